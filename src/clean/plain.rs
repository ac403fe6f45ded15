//! Plain prose (books): paragraphs are separated by blank lines, and the lines of a
//! hard-wrapped paragraph are joined.

/// The paragraphs of `text`, with white space collapsed.
pub fn paragraphs(text: &str) -> Vec<String> {
    let mut paragraphs = Vec::new();
    let mut current = String::new();
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if !current.is_empty() {
                paragraphs.push(std::mem::take(&mut current));
            }
            continue;
        }
        for word in line.split_whitespace() {
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(word);
        }
    }
    paragraphs
}

#[cfg(test)]
mod tests {
    #[test]
    fn blank_lines_separate_paragraphs_and_wrapped_lines_join() {
        let text = "Chapter One\n\nIt was a dark\nand stormy  night.\n\n\n  The end. \n";
        assert_eq!(super::paragraphs(text), ["Chapter One", "It was a dark and stormy night.", "The end."]);
        assert!(super::paragraphs(" \n\n").is_empty());
    }
}
