//! A sentence's words in one buffer: their texts back to back and where each ends, as an
//! Arrow string column stores them. The tokenizer splits a sentence's words into one, the
//! sampler permutes them into another for every draw, and the shard writer copies a
//! sample's into the words column in one piece, where a `Vec<String>` costs an allocation,
//! a copy and a free (on the writer's thread) for every word.

/// The words of a sentence or a sample, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Words {
    text: String,
    /// `ends[i]` is the end (exclusive) in `text` of word `i`.
    ends: Vec<u32>,
}

impl Words {
    /// No words, with room for `words` words of `bytes` bytes in all.
    pub fn with_capacity(words: usize, bytes: usize) -> Words {
        Words { text: String::with_capacity(bytes), ends: Vec::with_capacity(words) }
    }

    /// Appends a word.
    pub fn push(&mut self, word: &str) {
        self.text.push_str(word);
        self.ends.push(self.text.len() as u32);
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there is no word.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Word `i`; `None` past the last.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        Some(&self.text[start..end])
    }

    /// Words `order[0]`, `order[1]`, … of these, each index below [`Words::len`].
    pub fn in_order(&self, order: &[u32]) -> Words {
        let mut out = Words::with_capacity(order.len(), self.text.len());
        for &i in order {
            let (start, end) = (if i == 0 { 0 } else { self.ends[i as usize - 1] }, self.ends[i as usize]);
            out.push(&self.text[start as usize..end as usize]);
        }
        out
    }

    /// The words in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + Clone + '_ {
        (0..self.len()).map(|i| self.get(i).expect("an index below len"))
    }

    /// Every word's text, back to back.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The end of each word in [`Words::text`].
    pub fn ends(&self) -> &[u32] {
        &self.ends
    }
}

impl<S: AsRef<str>> FromIterator<S> for Words {
    fn from_iter<I: IntoIterator<Item = S>>(words: I) -> Words {
        let mut out = Words::default();
        words.into_iter().for_each(|w| out.push(w.as_ref()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_read_back_as_pushed_empty_ones_too() {
        let words: Words = ["Zhuangzi", "", "'s", "é"].into_iter().collect();
        assert_eq!(words.len(), 4);
        assert_eq!(words.iter().collect::<Vec<_>>(), ["Zhuangzi", "", "'s", "é"]);
        assert_eq!((words.get(2), words.get(4)), (Some("'s"), None));
        assert_eq!(words.text(), "Zhuangzi'sé");
        assert_eq!(words.ends(), [8, 8, 10, 12]);
        assert!(Words::default().is_empty() && !words.is_empty());
        assert_eq!(words.in_order(&[3, 0, 2]).iter().collect::<Vec<_>>(), ["é", "Zhuangzi", "'s"]);
    }
}
