//! `spe inspect`: a legible view of an output directory: the manifest summary, the
//! schema, and rows rendered with their span pair, permutations, TBO targets and views,
//! or, for labeled outputs, with their entities and relations over the words. Of a
//! training or fine-tuning run, it gives the summary `spe train` and `spe finetune` end
//! with ([`run_summary`]).

use crate::counts::{describe, plural};
use crate::plot;
use crate::run::checkpoints;
use crate::run::layout::{self, METRICS_FILE};
use crate::sample::spans::SEGMENT_NAMES;
use crate::sample::Sample;
use crate::shard::labeled::{read_batches, LabeledRow};
use crate::shard::manifest::manifest_path;
use crate::shard::manifest::{format_of, LabeledManifest, TokenizerRecord, LABELED_FORMAT};
use crate::shard::schema::from_batch;
use crate::shard::Manifest;
use crate::tokenize::{Casing, TokenizerConfig, WordTokenizer};
use anyhow::{bail, Context, Result};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// The tables of the experiment in `dir` (`spe experiment --out DIR`), as last collected.
fn experiment_summary(dir: &Path) -> Result<String> {
    use crate::experiment::RESULTS_JSON;
    if !dir.join(RESULTS_JSON).exists() {
        bail!("{} is an experiment without results yet: run it, or collect what is done with --collect", dir.display());
    }
    let results = crate::experiment::results::Results::read(dir)?;
    Ok(format!("{} (spe experiment)\n{}", dir.display(), results.markdown()))
}

/// Renders the manifest summary, the schema and the first `rows` rows of `dir`, a
/// pre-training or a labeled output. Sub-tokens are shown as strings when the manifest's
/// tokenizer file is still present and unchanged, as ids otherwise.
pub fn inspect(dir: &Path, rows: usize) -> Result<String> {
    if !manifest_path(dir).exists() && dir.join(METRICS_FILE).exists() {
        return run_summary(dir);
    }
    if !manifest_path(dir).exists() && dir.join(crate::experiment::EXPERIMENT_FILE).exists() {
        return experiment_summary(dir);
    }
    if format_of(dir)? == LABELED_FORMAT {
        return inspect_labeled(dir, rows);
    }
    let manifest = Manifest::read(dir)?;
    let mut out = String::new();
    let t = &manifest.totals;
    writeln!(
        out,
        "{} (spe {}, corpus {}, schema v{}, seed {})",
        dir.display(),
        manifest.tool.version,
        manifest.corpus,
        manifest.schema_version,
        manifest.seed
    )?;
    writeln!(
        out,
        "  inputs: {}",
        manifest.inputs.iter().map(|i| format!("{} ({} bytes)", i.path, i.bytes)).collect::<Vec<_>>().join(", ")
    )?;
    writeln!(
        out,
        "  tokenizer: {} (vocabulary {}, sha256 {})",
        manifest.tokenizer.path,
        manifest.tokenizer.vocab_size,
        &manifest.tokenizer.sha256[..12]
    )?;
    writeln!(
        out,
        "  documents {}, sentences {}, samples {}, words {}, sub-tokens {}, SPO targets {}, TBO targets {}",
        t.documents, t.sentences, t.samples, t.words, t.subtokens, t.spo_targets, t.tbo_targets
    )?;
    writeln!(
        out,
        "  shards: {}",
        manifest
            .shards
            .iter()
            .map(|s| {
                let (rows, groups) = (plural(s.rows, "row"), plural(s.row_groups, "row group"));
                format!("{} ({rows}, {groups}, {} bytes)", s.file, s.bytes)
            })
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    writeln!(
        out,
        "  skipped records: {}; dropped sentences: {}; dropped draws: {}",
        describe(&manifest.skipped_records),
        describe(&manifest.dropped_sentences),
        describe(&manifest.dropped_draws)
    )?;

    let Some(first) = manifest.shards.first() else {
        return Ok(out);
    };
    let path = dir.join(&first.file);
    let file = std::fs::File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{}: not a readable Parquet file", path.display()))?;
    writeln!(out, "\nschema:")?;
    for field in builder.schema().fields() {
        writeln!(out, "  {}: {}", field.name(), field.data_type())?;
    }
    let tokenizer = load_tokenizer(&manifest.tokenizer);
    writeln!(out, "\nrows (perm=K: segment permuted by permutation K; tbo: position=original piece(+offset); _ : hidden in that view):")?;
    let mut shown = 0;
    let special = manifest.tokenizer.special();
    for batch in builder.with_batch_size(rows.max(1)).build()? {
        let batch = batch.with_context(|| format!("cannot read {}", path.display()))?;
        for sample in from_batch(&batch).with_context(|| path.display().to_string())? {
            if shown == rows {
                return Ok(out);
            }
            if let Err(what) = sample.check(&special) {
                bail!("{}: row {shown} ({} sentence {}): {what}", path.display(), sample.doc_id, sample.sent_id);
            }
            writeln!(out)?;
            render(&mut out, &sample, tokenizer.as_ref())?;
            shown += 1;
        }
    }
    Ok(out)
}

/// What a training (`spe train`) or fine-tuning (`spe finetune`) run in `dir` did and
/// where its results are: its length, the first and last value of each curve, and its
/// files.
pub fn run_summary(dir: &Path) -> Result<String> {
    let curves = plot::read(dir)?;
    let records = curves.series.iter().map(|s| s.points.len()).max().unwrap_or(0);
    let last_x = curves.series.iter().filter_map(|s| s.points.last()).map(|p| p.0).fold(0.0, f64::max);
    let kind = match curves.x {
        "epoch" => "fine-tuning",
        _ => "pre-training",
    };
    let mut out = String::new();
    let took = curves.elapsed_s.map(|s| format!(", {s:.1} s")).unwrap_or_default();
    writeln!(
        out,
        "{}: a {kind} run, {} up to {} {last_x}{took}",
        dir.display(),
        plural(records as u64, "logged record"),
        curves.x
    )?;
    for series in &curves.series {
        let Some((first, last)) = series.first_last() else { continue };
        let reference = series.reference.map(|(name, level)| format!(" ({name} = {level:.4})")).unwrap_or_default();
        writeln!(out, "  {:<18} {first:.4} -> {last:.4}{reference}", series.name)?;
    }
    match curves.threads {
        Some((fewest, most)) if fewest < most => writeln!(
            out,
            "  libtorch threads: {fewest} to {most} (fewer while other processes kept cores busy; --threads fixes \
             the count)"
        )?,
        Some((n, _)) => writeln!(out, "  libtorch threads: {n}")?,
        None => {}
    }
    if let Some(latest) = checkpoints::latest(dir)? {
        let name = latest.file_name().unwrap_or_default().to_string_lossy();
        writeln!(out, "  checkpoints: {} (latest {name})", dir.join(layout::CHECKPOINTS_DIR).display())?;
    }
    for (file, what) in [
        (layout::ENCODER_DIR, "sentence encoder (a Hugging Face BERT directory)"),
        (layout::SPAN_ENCODERS_FILE, "span and span-pair encoders"),
        (layout::MODEL_DIR, "fine-tuned extractor (for spe evaluate and spe predict)"),
        (layout::REPORT_FILE, "dev and test scores"),
        (METRICS_FILE, "metrics, one record per line"),
        (layout::PLOT_FILE, "loss curves"),
    ] {
        let path = dir.join(file);
        if path.exists() {
            writeln!(out, "  {what}: {}", path.display())?;
        }
    }
    Ok(out)
}

fn load_tokenizer(record: &TokenizerRecord) -> Option<WordTokenizer> {
    let config = TokenizerConfig { path: PathBuf::from(&record.path), casing: Casing::Auto };
    WordTokenizer::load(&config).ok().filter(|t| t.sha256() == record.sha256)
}

/// A labeled output: counts and label sets per split, the schema, and the first `rows`
/// rows of each split with their entities and relations over the words.
fn inspect_labeled(dir: &Path, rows: usize) -> Result<String> {
    let manifest = LabeledManifest::read(dir)?;
    let mut out = String::new();
    writeln!(
        out,
        "{} (spe {}, corpus {}, {} format, labeled schema v{})",
        dir.display(),
        manifest.tool.version,
        manifest.corpus,
        manifest.source_format,
        manifest.schema_version
    )?;
    writeln!(out, "  tokenizer: {} (sha256 {})", manifest.tokenizer.path, &manifest.tokenizer.sha256[..12])?;
    writeln!(out, "  symmetric relations: {}", manifest.symmetric_relations.join(", "))?;
    let tokenizer = load_tokenizer(&manifest.tokenizer);
    let mut schema_shown = false;
    for (name, split) in manifest.ordered_splits() {
        let s = &split.stats;
        writeln!(
            out,
            "\n{name}: {}, {}, {}, {} ({} nested, {} overlapping, {} on a shared span), {} ({} symmetric \
             pairs in both directions); skipped: {}",
            plural(s.documents, "document"),
            plural(s.sentences, "labeled sentence"),
            plural(s.words, "word"),
            plural(s.entities, "entity"),
            s.nested_entities,
            s.overlapping_entities,
            s.same_span_entities,
            plural(s.relations, "relation"),
            s.symmetric_both_directions,
            describe(&split.skipped_records)
        )?;
        writeln!(out, "  entity labels: {}", describe(&s.entity_labels))?;
        writeln!(out, "  relation labels: {}", describe(&s.relation_labels))?;
        let Some(first) = split.shards.first() else { continue };
        let path = dir.join(&first.file);
        if !schema_shown {
            let file = std::fs::File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
            writeln!(out, "  schema:")?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .with_context(|| format!("{}: not a readable Parquet file", path.display()))?;
            for field in reader.schema().fields() {
                writeln!(out, "    {}: {}", field.name(), field.data_type())?;
            }
            schema_shown = true;
        }
        let mut shown = 0;
        let special = manifest.tokenizer.special();
        'rows: for batch in read_batches(&path)? {
            for row in batch? {
                if shown == rows {
                    break 'rows;
                }
                if let Err(what) = row.check(&special) {
                    bail!("{}: row {shown} ({} sentence {}): {what}", path.display(), row.doc_id, row.sent_id);
                }
                render_labeled(&mut out, &row, tokenizer.as_ref())?;
                shown += 1;
            }
        }
    }
    Ok(out)
}

/// One labeled sentence: entities bracketed over the words, then each entity and relation.
fn render_labeled(out: &mut String, row: &LabeledRow, tokenizer: Option<&WordTokenizer>) -> Result<()> {
    writeln!(out, "\n  {} sentence {}", row.doc_id, row.sent_id)?;
    let mut words = Vec::new();
    for (i, word) in row.words.iter().enumerate() {
        let opens = row.entities.iter().filter(|e| e.start as usize == i).count();
        // Inner mentions (those starting later) close first.
        let mut closing: Vec<_> = row.entities.iter().filter(|e| e.end as usize == i + 1).collect();
        closing.sort_by_key(|e| std::cmp::Reverse(e.start));
        let closes: String = closing.iter().map(|e| format!("]{}", e.label)).collect();
        words.push(format!("{}{word}{closes}", "[".repeat(opens)));
    }
    writeln!(out, "    {}", words.join(" "))?;
    let text = |i: u32| {
        let e = &row.entities[i as usize];
        row.words[e.start as usize..e.end as usize].join(" ")
    };
    for (i, e) in row.entities.iter().enumerate() {
        writeln!(out, "    entity {i}: {} {:?} (words {}..{})", e.label, text(i as u32), e.start, e.end)?;
    }
    for r in &row.relations {
        writeln!(out, "    relation {}: {:?} -> {:?}", r.label, text(r.head), text(r.tail))?;
    }
    if let Some(t) = tokenizer {
        let pieces: Vec<String> = row.input_ids.iter().map(|&id| t.token(id as u32).unwrap_or_default()).collect();
        writeln!(out, "    sub-tokens: {}", pieces.join(" "))?;
    }
    Ok(())
}

/// One sample, legibly.
fn render(out: &mut String, s: &Sample, tokenizer: Option<&WordTokenizer>) -> Result<()> {
    let piece = |id: i32| tokenizer.and_then(|t| t.token(id as u32)).unwrap_or_else(|| format!("#{id}"));
    let title = s.title.as_ref().map_or(String::new(), |t| format!(" ({t})"));
    writeln!(out, "{}{title} sentence {} draw {}", s.doc_id, s.sent_id, s.draw)?;
    let segments = s.inputs.pair.segments(s.words.len() as u32);
    let rendered: Vec<String> = segments
        .iter()
        .enumerate()
        .map(|(i, span)| {
            let words: Vec<&str> = s.words.iter().skip(span.start as usize).take(span.len() as usize).collect();
            let words = words.join(" ");
            let spo = s
                .inputs
                .spo
                .iter()
                .find(|t| t.segment as usize == i)
                .map_or(String::new(), |t| format!(" perm={}", t.label));
            format!("[{}{spo}: {words}]", SEGMENT_NAMES[i])
        })
        .collect();
    writeln!(out, "  words:   {}", rendered.join(" "))?;
    let tbo: Vec<String> =
        s.inputs.tbo.iter().map(|t| format!("{}={}(+{})", t.position, piece(t.label), t.offset)).collect();
    writeln!(out, "  tbo:     {}", if tbo.is_empty() { "none".to_string() } else { tbo.join(" ") })?;
    let view = |keep: &[bool]| -> String {
        s.inputs
            .input_ids
            .iter()
            .enumerate()
            .map(
                |(p, &id)| {
                    if keep[p] || p == 0 || p + 1 == s.inputs.input_ids.len() {
                        piece(id)
                    } else {
                        "_".to_string()
                    }
                },
            )
            .collect::<Vec<_>>()
            .join(" ")
    };
    writeln!(out, "  input:   {}", s.inputs.input_ids.iter().map(|&id| piece(id)).collect::<Vec<_>>().join(" "))?;
    writeln!(out, "  target:  {}", view(&s.inputs.target_mask))?;
    writeln!(out, "  context: {}", view(&s.inputs.context_mask))?;
    Ok(())
}
