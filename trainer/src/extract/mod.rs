//! The joint entity and relation extractor of paper §3.4, which fine-tuning trains and
//! evaluation and prediction run. It follows the authors' joint model: candidate spans are
//! proposed (by the paper's word tagger, or, spe's default, every span up to a width;
//! [`candidates`]), every candidate span is typed (or rejected as `None`) from the span
//! encoder, and every pair of typed entities, the first before the second and not
//! overlapping, is classified from the span-pair encoder over L, e1, M, e2, R.
//!
//! Here are [`labels`], the vocabularies of classes and the tag coding, [`candidates`],
//! where candidate spans come from, [`model`], the network,
//! [`step`], one pass over a batch of sentences (candidates, losses and predictions),
//! [`window`], sentences longer than the encoder's positions predicted in windows, and
//! [`saved`], a fine-tuned extractor on disk.

pub mod candidates;
pub mod labels;
pub mod model;
pub mod saved;
pub mod step;
pub mod window;
