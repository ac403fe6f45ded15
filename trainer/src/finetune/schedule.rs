//! What changes over a fine-tuning run, and between its variables: scheduled sampling of
//! gold against predicted entities, and each variable's learning-rate group.

use super::config::{FinetuneConfig, ScheduleConfig};
use crate::model::BERT_PREFIX;
use crate::runtime::optim::ParamGroup;

/// The probability that a sentence's relation candidates come from its gold entities in
/// `epoch` (counted from 1).
pub fn gold_probability(schedule: &ScheduleConfig, epoch: u64) -> f64 {
    if epoch <= schedule.gold_epochs || schedule.k == 0.0 {
        return 1.0;
    }
    let k = schedule.k;
    k / (k + ((epoch - schedule.gold_epochs) as f64 / k).exp())
}

/// The group of variable `name` in an extractor whose BERT has `layers` layers: layer i
/// learns at `layer_decay`^(layers − 1 − i) of the rate, the rest of BERT (embeddings,
/// pooler) at the rate, and everything outside BERT at `head_lr_scale` times the rate.
pub fn layer_groups(name: &str, layers: i64, config: &FinetuneConfig) -> ParamGroup {
    let layer = name.strip_prefix("bert.encoder.layer.").and_then(|rest| rest.split('.').next()?.parse::<i64>().ok());
    let lr_scale = match (layer, name.starts_with(BERT_PREFIX)) {
        (Some(i), _) => config.layer_decay.powi((layers - 1 - i) as i32),
        (None, true) => 1.0,
        (None, false) => config.head_lr_scale,
    };
    ParamGroup { lr_scale, ..ParamGroup::default_for(name, config.optim.weight_decay) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduled_sampling_feeds_gold_first_then_decays() {
        let s = ScheduleConfig::default();
        assert!((1..=5).all(|e| gold_probability(&s, e) == 1.0));
        let p6 = gold_probability(&s, 6);
        assert!((p6 - 3.0 / (3.0 + (1.0f64 / 3.0).exp())).abs() < 1e-12, "{p6}");
        let curve: Vec<f64> = (6..40).map(|e| gold_probability(&s, e)).collect();
        assert!(curve.windows(2).all(|w| w[1] < w[0]) && curve[curve.len() - 1] < 0.01);
        assert_eq!(gold_probability(&ScheduleConfig { k: 0.0, ..s }, 50), 1.0);
    }

    #[test]
    fn bert_layers_learn_slower_the_lower_they_are() {
        let config = FinetuneConfig { head_lr_scale: 20.0, layer_decay: 0.9, ..FinetuneConfig::default() };
        let g = |name: &str| layer_groups(name, 12, &config);
        assert_eq!(g("bert.encoder.layer.11.output.dense.weight").lr_scale, 1.0);
        assert!((g("bert.encoder.layer.0.attention.self.query.weight").lr_scale - 0.9f64.powi(11)).abs() < 1e-12);
        assert!((g("bert.encoder.layer.10.intermediate.dense.bias").lr_scale - 0.9).abs() < 1e-12);
        assert_eq!(g("bert.encoder.layer.10.intermediate.dense.bias").weight_decay, 0.0);
        assert_eq!(g("bert.embeddings.word_embeddings.weight").lr_scale, 1.0);
        assert_eq!(g("bert.pooler.dense.weight").lr_scale, 1.0);
        assert_eq!(g("relation_classifier.weight"), ParamGroup { lr_scale: 20.0, weight_decay: 0.01 });
        assert_eq!(g("span_encoder.conv2.bias"), ParamGroup { lr_scale: 20.0, weight_decay: 0.0 });
    }
}
