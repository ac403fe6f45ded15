//! The labels of the joint entity and relation extractor of paper §3.4: the vocabularies of
//! entity and relation types and the word-by-word tag coding. They need no libtorch, so
//! preparation and `spe export` share them with the extractor itself, which lives in the
//! trainer (`spe_trainer::extract`).

pub mod labels;
