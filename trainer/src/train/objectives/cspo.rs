//! CSPO, the contrastive span pair objective (paper §3.2 and appendix D). A sentence with
//! its span pair hidden (`x_context`) and the same sentence with everything but the pair
//! hidden (`x_target`) are a positive pair; other sentences' views are negatives. Its parts
//! live where their stage does:
//!
//! 1. the views' masks, drawn with each sample: [`spe::sample::views`];
//! 2. the two views of a micro-batch, each `[MASK]`ing the other's sub-tokens:
//!    [`spe::batch`] ([`spe::batch::View`]);
//! 3. the representation f(x) of a view: BERT, the span-pair encoder, the projection head
//!    ([`crate::model::heads::Projection`]) and a unit vector: [`crate::model::Encoder`];
//! 4. the momentum key encoder and the queues of negatives: [`crate::train::moco`];
//! 5. the loss, symmetric InfoNCE: here.

use crate::train::moco::{Keys, Moco};
use tch::{Kind, Tensor};

/// The symmetric InfoNCE loss of the queries `[B, C]` of both views: x_target's query is
/// scored against its own sentence's x_context key and the queue of context keys,
/// x_context's query against the x_target key and the queue of target keys.
pub fn loss(moco: &Moco, query_target: &Tensor, query_context: &Tensor, keys: &Keys) -> Tensor {
    let one_side = |query: &Tensor, positive: &Tensor, queue: &Tensor| {
        let query = query.to_kind(Kind::Float);
        let positive = (&query * positive).sum_dim_intlist([1].as_slice(), true, Kind::Float); // [B, 1]
        let negative = query.mm(&queue.tr()); // [B, K]
        let logits = Tensor::cat(&[positive, negative], 1) / moco.temperature();
        let labels = Tensor::zeros([query.size()[0]], (Kind::Int64, query.device()));
        logits.cross_entropy_for_logits(&labels)
    };
    let (target_queue, context_queue) = moco.queues();
    (one_side(query_target, &keys.context, context_queue) + one_side(query_context, &keys.target, target_queue)) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::layers::unit_rows;
    use crate::model::ModelConfig;
    use crate::train::moco::MocoConfig;
    use tch::{nn, Device};

    #[test]
    fn the_loss_rewards_the_positive_pair() {
        let model = ModelConfig::tiny();
        let query_vs = nn::VarStore::new(Device::Cpu);
        let _query = crate::model::Encoder::new(&query_vs.root(), &model);
        let config = MocoConfig { queue_size: 4, ..Default::default() };
        let moco = Moco::new(&query_vs, &model, &config, Device::Cpu).unwrap();
        let q = unit_rows(&Tensor::randn([3, 4], (Kind::Float, Device::Cpu)));
        let matching = Keys { target: q.copy(), context: q.copy() };
        let other = Keys { target: -q.copy(), context: -q.copy() };
        let good = f64::try_from(loss(&moco, &q, &q, &matching)).unwrap();
        let bad = f64::try_from(loss(&moco, &q, &q, &other)).unwrap();
        assert!(good < bad, "{good} vs {bad}");
    }
}
