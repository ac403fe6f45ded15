//! A streaming reader of MediaWiki XML exports (schema 0.10 and 0.11): one page at a
//! time, whatever the size of the dump.

use anyhow::{bail, Result};
use quick_xml::events::Event;
use quick_xml::Reader;
use std::io::BufRead;

/// A page of the dump, with its current revision's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The page id.
    pub id: u64,
    /// The namespace (0 for articles).
    pub ns: i64,
    /// The title.
    pub title: String,
    /// Whether the page is a redirect.
    pub redirect: bool,
    /// The wikitext of the last revision in the export.
    pub text: String,
    /// The text was longer than the limit and was cut; the page should be skipped.
    pub too_large: bool,
}

/// Which element's text is being collected.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Title,
    Ns,
    PageId,
    Text,
}

/// Reads [`Page`]s from a MediaWiki XML export.
pub struct DumpReader<R: BufRead> {
    reader: Reader<R>,
    buf: Vec<u8>,
    name: String,
    max_document_bytes: usize,
    closed: bool,
}

impl<R: BufRead> DumpReader<R> {
    /// A reader of the export in `input`, named `name` in errors. Page texts longer than
    /// `max_document_bytes` are cut and flagged rather than held in memory.
    pub fn new(input: R, name: &str, max_document_bytes: usize) -> Self {
        DumpReader {
            reader: Reader::from_reader(input),
            buf: Vec::new(),
            name: name.to_string(),
            max_document_bytes,
            closed: false,
        }
    }

    /// The next page, or `None` after `</mediawiki>`. A malformed or truncated export is an
    /// error naming the file, the byte offset and the page being read.
    pub fn next_page(&mut self) -> Result<Option<Page>> {
        let mut page: Option<Page> = None;
        let mut field: Option<Field> = None;
        let mut in_revision = false;
        let mut value = String::new();
        let max = self.max_document_bytes;
        loop {
            self.buf.clear();
            let event = match self.reader.read_event_into(&mut self.buf) {
                Ok(event) => event,
                Err(e) => bail!(
                    "{}: malformed XML at byte {}{}: {e}",
                    self.name,
                    self.reader.error_position(),
                    describe(page.as_ref())
                ),
            };
            match event {
                Event::Start(e) => match e.local_name().as_ref() {
                    "page" => {
                        page = Some(Page {
                            id: 0,
                            ns: 0,
                            title: String::new(),
                            redirect: false,
                            text: String::new(),
                            too_large: false,
                        })
                    }
                    "revision" => in_revision = true,
                    "title" if page.is_some() => field = Some(Field::Title),
                    "ns" if page.is_some() => field = Some(Field::Ns),
                    "id" if page.is_some() && !in_revision => field = Some(Field::PageId),
                    "text" if in_revision => {
                        field = Some(Field::Text);
                        if let Some(p) = page.as_mut() {
                            p.text.clear(); // only the last revision counts
                            p.too_large = false;
                        }
                    }
                    _ => {}
                },
                Event::Empty(e) if e.local_name().as_ref() == "redirect" => {
                    if let Some(p) = page.as_mut() {
                        p.redirect = true;
                    }
                }
                Event::Text(e) => collect(max, &mut page, field, &mut value, &e.xml10_content()),
                Event::CData(e) => collect(max, &mut page, field, &mut value, &e),
                Event::GeneralRef(e) => {
                    let resolved = match e.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        Ok(None) => match e.xml10_content().as_ref() {
                            "amp" => "&".into(),
                            "lt" => "<".into(),
                            "gt" => ">".into(),
                            "quot" => "\"".into(),
                            "apos" => "'".into(),
                            other => bail!("{}: unknown XML entity &{other};{}", self.name, describe(page.as_ref())),
                        },
                        Err(err) => bail!("{}: bad character reference{}: {err}", self.name, describe(page.as_ref())),
                    };
                    collect(max, &mut page, field, &mut value, &resolved);
                }
                Event::End(e) => match e.local_name().as_ref() {
                    "page" => {
                        let page = page.take();
                        if let Some(page) = page {
                            return Ok(Some(page));
                        }
                    }
                    "revision" => in_revision = false,
                    "mediawiki" => self.closed = true,
                    name => {
                        if let (Some(f), Some(p)) = (field.take(), page.as_mut()) {
                            match f {
                                Field::Title => p.title = std::mem::take(&mut value),
                                Field::Ns => p.ns = parse_number(&value, "ns", &self.name, p)?,
                                Field::PageId => p.id = parse_number(&value, "id", &self.name, p)?,
                                Field::Text => {}
                            }
                            debug_assert!(matches!(name, "title" | "ns" | "id" | "text"));
                        }
                        value.clear();
                    }
                },
                Event::Eof => {
                    if page.is_some() {
                        bail!("{}: the file ends inside a page{}: it is truncated", self.name, describe(page.as_ref()));
                    }
                    if !self.closed {
                        bail!(
                            "{}: the file ends before </mediawiki>: it is truncated or not a MediaWiki export",
                            self.name
                        );
                    }
                    return Ok(None);
                }
                _ => {}
            }
        }
    }
}

/// Adds `text` to the field being read; a page text past `max` bytes is flagged, not kept.
fn collect(max: usize, page: &mut Option<Page>, field: Option<Field>, value: &mut String, text: &str) {
    match (field, page.as_mut()) {
        (Some(Field::Text), Some(p)) => {
            if p.text.len() + text.len() > max {
                p.too_large = true;
            } else if !p.too_large {
                p.text.push_str(text);
            }
        }
        (Some(_), Some(_)) if value.len() < 4096 => value.push_str(text),
        _ => {}
    }
}

fn parse_number<T: std::str::FromStr>(value: &str, what: &str, file: &str, page: &Page) -> Result<T> {
    match value.trim().parse() {
        Ok(n) => Ok(n),
        Err(_) => bail!("{file}: <{what}> is not a number ({value:?}){}", describe(Some(page))),
    }
}

/// ` in page "Title" (id N)` for messages.
fn describe(page: Option<&Page>) -> String {
    match page {
        Some(p) if p.id != 0 => format!(" in page {:?} (id {})", p.title, p.id),
        Some(p) if !p.title.is_empty() => format!(" in page {:?}", p.title),
        Some(_) => " in a page".to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = r#"<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11">
  <siteinfo><sitename>Wikipedia</sitename></siteinfo>
  <page><title>A &amp; B</title><ns>0</ns><id>12</id>
    <revision><id>1</id><contributor><id>99</id></contributor><text bytes="3">old</text></revision>
    <revision><id>2</id><text xml:space="preserve">x &lt;ref&gt; &#233;&#x263A;</text></revision>
  </page>
  <page><title>R</title><ns>0</ns><id>13</id><redirect title="A" /><revision><text>#REDIRECT [[A]]</text></revision></page>
  <page><title>Talk:A</title><ns>1</ns><id>14</id><revision><text>talk</text></revision></page>
</mediawiki>"#;

    #[test]
    fn reads_pages_with_their_last_revision() {
        let mut reader = DumpReader::new(DUMP.as_bytes(), "dump.xml", 1 << 20);
        let a = reader.next_page().unwrap().unwrap();
        assert_eq!((a.id, a.ns, a.title.as_str(), a.redirect, a.text.as_str()), (12, 0, "A & B", false, "x <ref> é☺"));
        let r = reader.next_page().unwrap().unwrap();
        assert!(r.redirect && r.id == 13);
        assert_eq!(reader.next_page().unwrap().unwrap().ns, 1);
        assert_eq!(reader.next_page().unwrap(), None);
    }

    #[test]
    fn truncated_and_malformed_exports_are_errors_naming_the_page() {
        let cut = &DUMP[..DUMP.find("<page><title>R").unwrap() + 40];
        let mut reader = DumpReader::new(cut.as_bytes(), "dump.xml", 1 << 20);
        reader.next_page().unwrap();
        let err = reader.next_page().unwrap_err().to_string();
        assert!(err.contains("dump.xml: malformed XML at byte") && err.contains("\"R\""), "{err}");
        let cut_between = &DUMP[..DUMP.find("<page><title>R").unwrap()];
        let mut reader = DumpReader::new(cut_between.as_bytes(), "dump.xml", 1 << 20);
        reader.next_page().unwrap();
        let err = reader.next_page().unwrap_err().to_string();
        assert!(err.contains("dump.xml: the file ends before </mediawiki>: it is truncated"), "{err}");
        let bad = DUMP.replace("<ns>1</ns>", "<ns>1</nz>");
        let mut reader = DumpReader::new(bad.as_bytes(), "bad.xml", 1 << 20);
        reader.next_page().unwrap();
        reader.next_page().unwrap();
        let err = reader.next_page().unwrap_err().to_string();
        assert!(err.contains("bad.xml: malformed XML at byte") && err.contains("Talk:A"), "{err}");
    }

    #[test]
    fn oversized_pages_are_cut_and_flagged() {
        let mut reader = DumpReader::new(DUMP.as_bytes(), "dump.xml", 5);
        let a = reader.next_page().unwrap().unwrap();
        assert!(a.too_large && a.text.len() <= 5);
    }
}
