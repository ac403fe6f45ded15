//! The span encoder (paper §3.1): a single convolution layer over a span's word vectors,
//! max-pooled over time, followed by an MLP.

use super::layers::Dense;
use anyhow::{bail, ensure, Result};
use serde::{Deserialize, Serialize};
use tch::nn;
use tch::{Kind, Tensor};

/// Sizes of the span and span-pair encoders; the defaults are the paper's and the
/// reference code's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SpanConfig {
    /// Convolution kernel sizes, in words.
    pub kernel_sizes: Vec<i64>,
    /// Filters per kernel size.
    pub filters: i64,
    /// Size of a span vector (the MLP's output).
    pub size: i64,
    /// Size of the span-pair attention's hidden layer.
    pub attention_size: i64,
    /// Size of a relative position embedding.
    pub position_size: i64,
    /// Dropout after the MLP and the attention.
    pub dropout: f64,
}

impl Default for SpanConfig {
    fn default() -> Self {
        SpanConfig {
            kernel_sizes: vec![2, 3, 4],
            filters: 100,
            size: 300,
            attention_size: 500,
            position_size: 100,
            dropout: 0.1,
        }
    }
}

impl SpanConfig {
    /// The ranges of the sizes: a kernel of 1 to 64 words (a longer one sees past any
    /// span), and sizes of 1 to 65,536, far above the paper's hundreds.
    pub fn check(&self) -> Result<()> {
        ensure!(!self.kernel_sizes.is_empty(), "kernel_sizes is empty; the span encoder needs at least one kernel");
        if let Some(k) = self.kernel_sizes.iter().find(|k| !(1..=64).contains(*k)) {
            bail!("kernel_sizes must each lie in [1, 64], not {k}");
        }
        for (key, value) in [
            ("filters", self.filters),
            ("size", self.size),
            ("attention_size", self.attention_size),
            ("position_size", self.position_size),
        ] {
            ensure!((1..=1 << 16).contains(&value), "{key} must lie in [1, 65536], not {value}");
        }
        ensure!((0.0..1.0).contains(&self.dropout), "dropout must lie in [0, 1), not {}", self.dropout);
        Ok(())
    }
}

/// Spans as the span encoder takes them: `[N, S, 2]` half-open word ranges on the device,
/// the sentence each of the N rows lies in, and the widest span's width in words, taken on
/// the host where the ranges were made. The encoder gathers every span into that width;
/// reading it back from the device instead would make the host wait for the device once
/// per forward pass.
#[derive(Debug)]
pub struct Spans {
    /// `[N, S, 2]` word ranges.
    pub ranges: Tensor,
    /// `[N]` the sentence of the word vectors that row n's spans lie in; `None`: sentence n.
    /// Many rows can read one sentence (the extractor's candidate pairs) with no copy of
    /// its words.
    pub rows: Option<Tensor>,
    /// The largest `end - start` among them.
    pub widest: i64,
}

impl Spans {
    /// `flat` (start, end, start, end, …) as a tensor of `shape` on `device`, row n in
    /// sentence n.
    pub fn upload(flat: &[i64], shape: &[i64], device: tch::Device) -> Spans {
        let widest = flat.chunks_exact(2).map(|r| r[1] - r[0]).max().unwrap_or(0);
        Spans { ranges: crate::runtime::device::upload(flat, shape, device), rows: None, widest }
    }

    /// The same spans, row n in sentence `rows[n]` (`[N]` on the device).
    pub fn in_rows(self, rows: Tensor) -> Spans {
        Spans { rows: Some(rows), ..self }
    }

    /// The same spans, sharing the device memory.
    pub fn shallow_clone(&self) -> Spans {
        Spans {
            ranges: self.ranges.shallow_clone(),
            rows: self.rows.as_ref().map(Tensor::shallow_clone),
            widest: self.widest,
        }
    }

    /// The spans with one more axis at `dim` (`[N, 2]` -> `[N, 1, 2]` for one span a row).
    pub fn unsqueeze(&self, dim: i64) -> Spans {
        Spans {
            ranges: self.ranges.unsqueeze(dim),
            rows: self.rows.as_ref().map(Tensor::shallow_clone),
            widest: self.widest,
        }
    }
}

/// CNN + max-pool + MLP over the word vectors of a span.
#[derive(Debug)]
pub struct SpanEncoder {
    convs: Vec<(i64, nn::Conv1D)>,
    mlp: Dense,
}

impl SpanEncoder {
    /// A span encoder over word vectors of `input` features.
    pub fn new(p: nn::Path, input: i64, config: &SpanConfig) -> SpanEncoder {
        let convs = config
            .kernel_sizes
            .iter()
            .map(|&k| (k, nn::conv1d(&p / format!("conv{k}"), input, config.filters, k, Default::default())))
            .collect();
        let pooled = config.filters * config.kernel_sizes.len() as i64;
        SpanEncoder { convs, mlp: Dense::new(&p / "mlp", pooled, config.size, config.dropout) }
    }

    /// `words`: `[B, W, D]` word vectors; `spans`: `[N, S, 2]` half-open word ranges
    /// (empty ones allowed), row n in the sentence `spans.rows` names → `[N, S, size]`.
    ///
    /// A window of a span's convolution that lies inside the span reads the same words as
    /// the sentence's window at that place, so each kernel runs once over every sentence's
    /// words ([`windows`]) and a span takes the maximum of its own windows
    /// there. Candidate spans overlap (every span up to ten words, five segments a pair), so
    /// this costs a fraction of convolving each span's gathered words, and gives the same.
    pub fn forward(&self, words: &Tensor, spans: &Spans, train: bool) -> Result<Tensor> {
        let (b, w, _) = words.size3()?;
        let (n, s, _) = spans.ranges.size3()?;
        let device = words.device();
        ensure!((0..=w).contains(&spans.widest), "a span of {} words in a sentence of {w}", spans.widest);
        let sentence = match &spans.rows {
            Some(rows) => rows.shallow_clone(),
            None => {
                ensure!(n == b, "{n} rows of spans for {b} sentences");
                Tensor::arange(n, (Kind::Int64, device))
            }
        };
        let start = spans.ranges.select(2, 0).unsqueeze(2); // [N, S, 1]
        let len = spans.ranges.select(2, 1).unsqueeze(2) - &start; // [N, S, 1]
        let first_word = start + sentence.view([n, 1, 1]) * w; // in the flattened [B·W]
        let pooled: Vec<Tensor> = self
            .convs
            .iter()
            .map(|(k, conv)| {
                // A span of at least k words has len - k + 1 windows, all inside it; a shorter
                // one keeps its first window, zero-padded: its first len taps.
                let count = (spans.widest - k + 1).max(1);
                let offsets = Tensor::arange(count, (Kind::Int64, device)).view([1, 1, count]);
                let at = (&first_word + &offsets).clamp_max(b * w - 1); // masked where past the span
                let index = at * (k + 1) + len.clamp_max(*k);
                let kept = offsets.lt_tensor(&(&len - (k - 1)).clamp_min(1)); // [N, S, count]
                let windows = windows(words, *k, conv)?;
                let f = windows.size()[1];
                Ok(windows
                    .index_select(0, &index.view([-1]))
                    .view([n, s, count, f])
                    .masked_fill(&kept.logical_not().unsqueeze(3), f64::NEG_INFINITY)
                    .amax([2].as_slice(), false))
            })
            .collect::<Result<_>>()?;
        // [N, S, filters * kernels] -> [N, S, size]
        Ok(self.mlp.forward(&Tensor::cat(&pooled, 2), train))
    }
}

/// `[B·W·(k+1), F]` the activations of kernel `k` of `conv` at every word of `words`
/// `[B, W, D]`, each with its first m taps only for m = 0 to k: row (t·(k+1) + m) is the
/// window starting at flattened word t cut to m words, zero-padded as a span shorter
/// than the kernel is. Tap j of every window is one product of the words with the
/// kernel's j-th slice, shifted j words; a window's taps add up in order.
fn windows(words: &Tensor, k: i64, conv: &nn::Conv1D) -> Result<Tensor> {
    let (b, w, d) = words.size3()?;
    let f = conv.ws.size()[0];
    // [B, W + k - 1, k, F]: tap j of the window starting at each word, zero past the end.
    let taps = words.constant_pad_nd([0, 0, 0, k - 1]).matmul(&conv.ws.permute([1, 2, 0]).reshape([d, k * f])).view([
        b,
        w + k - 1,
        k,
        f,
    ]);
    let none = match &conv.bs {
        Some(bias) => bias.expand([b, w, f], false),
        None => Tensor::zeros([b, w, f], (words.kind(), words.device())),
    };
    // cut[m]: the first m taps, each sum a new tensor (an in-place add would change
    // the cuts already taken, which autograd needs as they were).
    let mut cut = vec![none];
    for j in 0..k {
        let next = &cut[j as usize] + taps.select(2, j).narrow(1, j, w);
        cut.push(next);
    }
    Ok(Tensor::stack(&cut, 2).gelu("none").view([b * w * (k + 1), f]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::Module;
    use tch::{Device, Kind};

    const D: i64 = 6;

    fn encoder(kernel_sizes: Vec<i64>) -> (nn::VarStore, SpanEncoder) {
        tch::manual_seed(7);
        let vs = nn::VarStore::new(Device::Cpu);
        let config = SpanConfig { kernel_sizes, filters: 4, size: 5, dropout: 0.0, ..SpanConfig::default() };
        let encoder = SpanEncoder::new(vs.root(), D, &config);
        (vs, encoder)
    }

    fn spans(ranges: &[(i64, i64)]) -> Spans {
        let flat: Vec<i64> = ranges.iter().flat_map(|&(s, e)| [s, e]).collect();
        Spans::upload(&flat, &[1, ranges.len() as i64, 2], Device::Cpu)
    }

    /// The encoding of `range` of `words` `[1, W, D]`, in a batch with a span as long as the
    /// sentence, so that padded windows exist beside it.
    fn encode(encoder: &SpanEncoder, words: &Tensor, range: (i64, i64)) -> Tensor {
        let w = words.size()[1];
        encoder.forward(words, &spans(&[range, (0, w)]), false).unwrap().select(1, 0)
    }

    /// The encoding of one span as the paper states it: its own words, zero-padded to the
    /// longest kernel, through each convolution, the maximum over its windows that start
    /// inside it (only the first for a span shorter than the kernel), then the MLP.
    fn convolved_alone(encoder: &SpanEncoder, words: &Tensor, row: i64, (start, end): (i64, i64)) -> Tensor {
        let longest = encoder.convs.iter().map(|(k, _)| *k).max().unwrap();
        let own = words.get(row).narrow(0, start, end - start); // [L, D]
        let padded = own.constant_pad_nd([0, 0, 0, (longest - (end - start)).max(0)]);
        let channels = padded.transpose(0, 1).unsqueeze(0); // [1, D, max(L, k)]
        let pooled: Vec<Tensor> = encoder
            .convs
            .iter()
            .map(|(k, conv)| {
                let kept = (end - start - k + 1).max(1);
                conv.forward(&channels).gelu("none").narrow(2, 0, kept).amax([2].as_slice(), false)
            })
            .collect();
        encoder.mlp.forward(&Tensor::cat(&pooled, 1), false).squeeze_dim(0)
    }

    #[test]
    fn every_span_is_encoded_as_its_own_words_convolved_alone() {
        let (_vs, encoder) = encoder(vec![2, 3, 4]);
        let words = Tensor::randn([2, 9, D], (Kind::Float, Device::Cpu));
        // Every span of sentence 1 and a few of sentence 0, as rows of both.
        let every: Vec<(i64, i64)> = (0..=9).flat_map(|s| (s..=9).map(move |e| (s, e))).collect();
        let mut flat: Vec<i64> = every.iter().flat_map(|&(s, e)| [s, e]).collect();
        let few = [(0, 1), (3, 9), (8, 9), (2, 2)];
        flat.extend(few.iter().cycle().take(every.len()).flat_map(|&(s, e)| [s, e]));
        let count = every.len() as i64;
        let spans = Spans::upload(&flat, &[2, count, 2], Device::Cpu);
        let rows = crate::runtime::device::upload(&[1i64, 0], &[2], Device::Cpu);
        let out = encoder.forward(&words, &spans.in_rows(rows), false).unwrap(); // [2, count, 5]
        for (i, &range) in every.iter().enumerate() {
            let alone = convolved_alone(&encoder, &words, 1, range);
            let got = out.get(0).get(i as i64);
            assert!(got.allclose(&alone, 1e-5, 1e-6, false), "span {range:?}: {got} vs {alone}");
        }
        for (i, &range) in few.iter().cycle().take(every.len()).enumerate() {
            let alone = convolved_alone(&encoder, &words, 0, range);
            assert!(out.get(1).get(i as i64).allclose(&alone, 1e-5, 1e-6, false), "span {range:?} of sentence 0");
        }
    }

    #[test]
    fn a_span_reads_only_its_own_words_and_only_its_full_windows() {
        let (_vs, encoder) = encoder(vec![2, 3, 4]);
        let words = Tensor::randn([1, 10, D], (Kind::Float, Device::Cpu));
        // The span alone, as a sentence of its own words: no padding at all.
        let alone = encoder.forward(&words.narrow(1, 3, 5), &spans(&[(0, 5)]), false).unwrap().select(1, 0);
        let inside = encode(&encoder, &words, (3, 8));
        assert!(inside.allclose(&alone, 1e-5, 1e-6, false), "{inside} vs {alone}");
        // Changing words outside the span changes nothing, at the end of the sentence too.
        let other = words.copy();
        let _ = other.narrow(1, 0, 3).fill_(5.0);
        assert!(encode(&encoder, &other, (3, 8)).allclose(&inside, 1e-5, 1e-6, false));
        let at_end = encode(&encoder, &words, (7, 10));
        let _ = other.narrow(1, 0, 7).fill_(-3.0);
        assert!(encode(&encoder, &other, (7, 10)).allclose(&at_end, 1e-5, 1e-6, false));
    }

    #[test]
    fn spans_shorter_than_a_kernel_and_empty_spans_are_finite() {
        let (_vs, encoder) = encoder(vec![2, 3, 4]);
        let words = Tensor::randn([1, 6, D], (Kind::Float, Device::Cpu));
        let out = encoder.forward(&words, &spans(&[(2, 3), (4, 4), (0, 6)]), false).unwrap(); // [1, 3, 5]
        assert_eq!(out.size(), [1, 3, 5]);
        assert!(bool::try_from(out.isfinite().all()).unwrap());
        // A one-word span keeps its first, zero-padded window: it reads that word only.
        let other = words.copy();
        let _ = other.narrow(1, 3, 3).fill_(9.0);
        let again = encoder.forward(&other, &spans(&[(2, 3), (4, 4), (0, 6)]), false).unwrap();
        assert!(again.select(1, 0).allclose(&out.select(1, 0), 1e-5, 1e-6, false));
        // An empty span reads no word at all.
        assert!(again.select(1, 1).allclose(&out.select(1, 1), 1e-5, 1e-6, false));
    }

    #[test]
    fn rows_read_the_sentence_they_name_as_a_copy_of_it_would() {
        let (_vs, encoder) = encoder(vec![2, 3]);
        let words = Tensor::randn([3, 7, D], (Kind::Float, Device::Cpu));
        let flat = [1i64, 4, 0, 7, 0, 2, 3, 5, 5, 7, 2, 3];
        let rows = [2i64, 0, 2];
        let rows = crate::runtime::device::upload(&rows, &[3], Device::Cpu);
        let spans = Spans::upload(&flat, &[3, 2, 2], Device::Cpu);
        let copied = encoder.forward(&words.index_select(0, &rows), &spans, false).unwrap();
        let in_rows = encoder.forward(&words, &spans.in_rows(rows), false).unwrap();
        assert!(in_rows.allclose(&copied, 1e-5, 1e-6, false), "{in_rows} vs {copied}");
        // Without rows, one row of spans a sentence.
        let err = encoder.forward(&words.narrow(0, 0, 2), &Spans::upload(&flat, &[3, 2, 2], Device::Cpu), false);
        assert_eq!(err.unwrap_err().to_string(), "3 rows of spans for 2 sentences");
    }

    #[test]
    fn the_widest_span_is_taken_on_the_host_and_checked_against_the_sentence() {
        let spans = Spans::upload(&[0, 3, 2, 2, 1, 6], &[1, 3, 2], Device::Cpu);
        assert_eq!(spans.widest, 5);
        let (_vs, encoder) = encoder(vec![2]);
        let words = Tensor::randn([1, 4, D], (Kind::Float, Device::Cpu));
        let err = encoder.forward(&words, &spans, false).unwrap_err().to_string();
        assert_eq!(err, "a span of 5 words in a sentence of 4");
    }

    #[test]
    fn padded_windows_never_win_the_max() {
        // With one kernel of 2 and a span of 3 words, a third window (its last word and a
        // zero) and zero windows exist once a longer span widens the batch. Positive words
        // and small negative weights put every pre-activation in (-0.75, 0), where GELU
        // rises: a window with fewer real words would score higher, so counting one would
        // change the max. Masked, the span gives what it gives alone, unpadded.
        let (vs, encoder) = encoder(vec![2]);
        tch::no_grad(|| {
            for (name, mut variable) in vs.variables() {
                if name.starts_with("conv2.") {
                    let _ = variable.fill_(if name.ends_with("weight") { -0.02 } else { 0.0 });
                }
            }
        });
        let words = Tensor::rand([1, 8, D], (Kind::Float, Device::Cpu)) + 0.5;
        let alone = encoder.forward(&words.narrow(1, 0, 3), &spans(&[(0, 3)]), false).unwrap().select(1, 0);
        let padded = encode(&encoder, &words, (0, 3));
        assert!(padded.allclose(&alone, 1e-5, 1e-6, false), "{padded} vs {alone}");
    }
}
