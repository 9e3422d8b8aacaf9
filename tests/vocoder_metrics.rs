//! Metrics: Pearson correlation, mean per-bin correlation, spectral-shape
//! correlation, speech frames, mel cepstral distortion and spectral
//! convergence on cases with known answers.

use neurospeak::metrics::{
    mean_bin_pearson, mel_cepstral_distortion_db, pearson_r, spectral_convergence,
    spectral_shape_r, speech_frames,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn noise(seed: u64, n: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

#[test]
fn pearson_of_identical_negated_and_independent() {
    let a = noise(1, 10_000);
    let negated: Vec<f32> = a.iter().map(|x| -2.0 * x + 3.0).collect();
    assert!((pearson_r(&a, &a) - 1.0).abs() < 1e-12);
    assert!((pearson_r(&a, &negated) + 1.0).abs() < 1e-9);
    let b = noise(2, 10_000);
    // Standard error of r for n = 10000 is 0.01.
    assert!(pearson_r(&a, &b).abs() < 0.04);
}

#[test]
fn pearson_is_nan_safe_and_constant_gives_zero() {
    assert_eq!(pearson_r(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), 0.0);
    assert_eq!(pearson_r(&[], &[]), 0.0);
    assert_eq!(pearson_r(&[1.0], &[2.0]), 0.0);
    let a = [1.0, f32::NAN, 2.0, 3.0, f32::INFINITY];
    let b = [2.0, 5.0, 4.0, 6.0, 1.0];
    // Only the finite pairs (1,2), (2,4), (3,6) count.
    assert!((pearson_r(&a, &b) - 1.0).abs() < 1e-12);
}

#[test]
fn mean_bin_pearson_averages_per_bin_correlations() {
    // Two bins over four frames: bin 0 identical (r = 1), bin 1 reversed (r = -1).
    let truth = [1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0];
    let est = [1.0, 4.0, 2.0, 3.0, 3.0, 2.0, 4.0, 1.0];
    assert!(mean_bin_pearson(&truth, &est, 2).abs() < 1e-12);
    assert!((mean_bin_pearson(&truth, &truth, 2) - 1.0).abs() < 1e-12);
}

#[test]
fn mcd_of_identical_is_zero() {
    let a = noise(3, 40 * 50);
    assert_eq!(mel_cepstral_distortion_db(&a, &a, 40, 13), 0.0);
}

#[test]
fn mcd_matches_a_hand_computed_example() {
    // Two mel bands, one frame, c1 only, on SPTK's scale (a DCT-II of the log
    // amplitude x/2 with weight 2/M): c1 = (1/M) Σ x_m cos(π (m + 1/2) / M)
    // = (x0 cos(π/4) + x1 cos(3π/4)) / 2 = (x0 - x1) / (2 sqrt 2).
    // truth [1, 0] gives c1 = 1/(2 sqrt 2), est [0, 0] gives 0, so
    // MCD = (10 / ln 10) * sqrt(2 * 1/8) = 5 / ln 10 ≈ 2.1715 dB.
    let mcd = mel_cepstral_distortion_db(&[1.0, 0.0], &[0.0, 0.0], 2, 1);
    assert!((mcd - 5.0 / std::f64::consts::LN_10).abs() < 1e-9, "{mcd}");
    // A constant offset changes only c0, which is excluded.
    let shifted: Vec<f32> = [1.0f32, 0.0].iter().map(|x| x + 5.0).collect();
    assert!(mel_cepstral_distortion_db(&[1.0, 0.0], &shifted, 2, 1) < 1e-6);
    // Mean over frames: the second frame is identical, so the mean halves.
    let two = mel_cepstral_distortion_db(&[1.0, 0.0, 3.0, 3.0], &[0.0, 0.0, 3.0, 3.0], 2, 1);
    assert!((two - 2.5 / std::f64::consts::LN_10).abs() < 1e-9, "{two}");
}

#[test]
fn spectral_shape_r_ignores_loudness_and_averages_selected_frames() {
    // Frame 0: same shape, 10 nats louder (r = 1); frame 1: mirrored (r = -1);
    // frame 2: not selected.
    let truth = [0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 5.0, 5.0, 1.0];
    let est = [10.0, 11.0, 12.0, 2.0, 1.0, 0.0, 0.0, 1.0, 9.0];
    assert!((spectral_shape_r(&truth, &est, 3, &[true, false, false]) - 1.0).abs() < 1e-12);
    assert!((spectral_shape_r(&truth, &est, 3, &[false, true, false]) + 1.0).abs() < 1e-12);
    assert!(spectral_shape_r(&truth, &est, 3, &[true, true, false]).abs() < 1e-12);
    assert_eq!(spectral_shape_r(&truth, &est, 3, &[false; 3]), 0.0);
}

#[test]
fn speech_frames_are_within_30_db_of_the_loud_frames_and_above_the_floor() {
    // One band; ln power levels. Loud frames at ln 1 (0 dB); 25 dB below is
    // speech, 35 dB below is not, and the floor never is.
    let db = |d: f32| d / 10.0 * std::f32::consts::LN_10;
    let mut frames = vec![db(0.0); 20];
    frames.extend([db(-25.0), db(-35.0), 1e-6f32.ln()]);
    let speech = speech_frames(&frames, 1, 1e-6);
    assert!(speech[..20].iter().all(|&s| s));
    assert_eq!(&speech[20..], &[true, false, false]);
    // All silence: no speech at all.
    assert!(
        !speech_frames(&[1e-6f32.ln(); 10], 1, 1e-6)
            .iter()
            .any(|&s| s)
    );
}

#[test]
fn spectral_convergence_known_values() {
    assert_eq!(spectral_convergence(&[3.0, 4.0], &[3.0, 4.0]), 0.0);
    assert!((spectral_convergence(&[3.0, 4.0], &[0.0, 0.0]) - 1.0).abs() < 1e-12);
    assert!((spectral_convergence(&[3.0, 4.0], &[3.0, 5.0]) - 0.2).abs() < 1e-12);
    assert_eq!(spectral_convergence(&[0.0], &[1.0]), 0.0);
}
