//! Streaming equals batch: feeding the same signal to the front-end in random
//! chunk sizes gives exactly the frames of one batch run.

use neurospeak::features::{FeatureExtractor, FrontEndPlan};
use proptest::prelude::*;

fn plan(future_frames: usize) -> FrontEndPlan {
    FrontEndPlan {
        channels: 3,
        sample_rate: 1024.0,
        common_average_reference: true,
        line_frequency: Some(60.0),
        notch_harmonics: 2,
        band: (70.0, 170.0),
        filter_order: 4,
        window_s: 0.05,
        hop_s: 0.01,
        past_frames: 4,
        future_frames,
        stride: 2,
        mean: vec![0.5, -0.5, 1.0],
        std: vec![2.0, 1.0, 0.5],
        layout: Default::default(),
        bipolar: vec![],
        extra_bands: vec![],
        raw_window: false,
    }
}

fn signal(samples: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    (0..samples * 3)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 2000) as f32 / 1000.0 - 1.0 + (i as f32 * 0.37).sin()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn chunked_frames_equal_batch_frames(
        seed in 1u64..1000,
        chunks in prop::collection::vec(1usize..300, 1..40),
        future in 0usize..2,
    ) {
        let p = plan(future);
        let x = signal(3000, seed);
        let batch = FeatureExtractor::run_batch(&p, &x);
        let mut fx = FeatureExtractor::new(&p);
        let mut streamed = Vec::new();
        let mut pos = 0;
        let mut i = 0;
        while pos < 3000 {
            let n = chunks[i % chunks.len()].min(3000 - pos);
            for s in x[pos * 3..(pos + n) * 3].chunks_exact(3) {
                if let Some(f) = fx.push_sample(s) {
                    streamed.extend_from_slice(f);
                }
            }
            pos += n;
            i += 1;
        }
        prop_assert_eq!(streamed.len(), batch.len());
        prop_assert!(streamed == batch, "streamed frames differ from batch frames");
    }
}
