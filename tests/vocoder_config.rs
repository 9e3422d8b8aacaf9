//! Vocoder configuration: defaults, validation messages, serde round trip.

use neurospeak::mel::MelConfig;
use neurospeak::vocoder::{StreamingVocoder, VocoderConfig, VocoderError};

#[test]
fn defaults_are_valid_and_round_trip_through_json() {
    let cfg = VocoderConfig::default();
    assert_eq!(cfg.lookahead_frames, 3);
    assert_eq!(cfg.validate(), Ok(()));
    let json = serde_json::to_string(&cfg).unwrap();
    let back: VocoderConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, cfg);
}

#[test]
fn invalid_configs_are_rejected_with_the_field_named() {
    let overlap = VocoderConfig {
        mel: MelConfig {
            win_length: 480,
            n_fft: 512,
            hop_length: 320,
            ..MelConfig::default()
        },
        ..VocoderConfig::default()
    };
    match StreamingVocoder::new(&overlap) {
        Err(VocoderError::Invalid { field, .. }) => assert_eq!(field, "mel.win_length"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("win_length 480 with hop 320 accepted"),
    }
    let mel = VocoderConfig {
        mel: MelConfig {
            f_max: 0.0,
            ..MelConfig::default()
        },
        ..VocoderConfig::default()
    };
    let err = mel.validate().unwrap_err();
    assert!(err.to_string().contains("MelConfig.f_max"), "{err}");
    let iterations = VocoderConfig {
        iterations: 1000,
        ..VocoderConfig::default()
    };
    assert!(
        iterations
            .validate()
            .unwrap_err()
            .to_string()
            .contains("iterations")
    );
}
