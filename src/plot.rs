//! Loss curves of a run: its `metrics.jsonl` read back as series, and drawn as
//! `loss-curves.png`, one panel per series (`spe plot RUN_DIR`, and at the end of
//! `spe train` and `spe finetune`).
//!
//! A pre-training run's panels are its objectives, TBO, SPO and CSPO, over steps; SPO's
//! panel marks chance, ln 6 for six permutations, which the loss must fall below for the
//! span encoder to have learned anything. A fine-tuning run's panels are its training loss
//! and dev F1s over epochs.

use crate::run::layout::{METRICS_FILE, PLOT_FILE};
use anyhow::{bail, ensure, Context, Result};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// One quantity of a run over its steps or epochs.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The quantity's name in `metrics.jsonl` (`spo`, `dev_rel_f1`, …).
    pub name: &'static str,
    /// (step or epoch, value), in order.
    pub points: Vec<(f64, f64)>,
    /// A level to mark (chance), if any.
    pub reference: Option<(&'static str, f64)>,
}

impl Series {
    /// The first and last values.
    pub fn first_last(&self) -> Option<(f64, f64)> {
        Some((self.points.first()?.1, self.points.last()?.1))
    }
}

/// What a run's metrics hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Curves {
    /// `step` (pre-training) or `epoch` (fine-tuning).
    pub x: &'static str,
    /// Every series with at least one value.
    pub series: Vec<Series>,
    /// Seconds the run (its last invocation, when resumed) had taken at its last record.
    pub elapsed_s: Option<f64>,
    /// The fewest and the most threads libtorch's CPU kernels ran on, where the records say
    /// (each record holds the fewest since the one before).
    pub threads: Option<(u64, u64)>,
}

/// The largest magnitude drawn: no loss, F1 or step comes near it, and axes spanning
/// ±1e308 (or an infinity, or NaN, which the comparison drops too) cannot be drawn.
const PLOTTABLE: f64 = 1e12;

const PRETRAINING: [&str; 3] = ["tbo", "spo", "cspo"];
const FINETUNING: [&str; 4] = ["loss", "dev_ent_f1", "dev_rel_f1", "dev_rel_strict_f1"];

/// Reads the curves of the run in `dir` from its `metrics.jsonl`.
pub fn read(dir: &Path) -> Result<Curves> {
    let path = dir.join(METRICS_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("cannot read {}: is {} an spe train or finetune run?", path.display(), dir.display())
    })?;
    let records = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str::<serde_json::Value>(line)
                .with_context(|| format!("{}:{}: not a JSON record", path.display(), i + 1))
        })
        .collect::<Result<Vec<_>>>()?;
    ensure!(!records.is_empty(), "{} holds no record yet", path.display());
    let (x, names): (&'static str, &[&'static str]) = match records[0].get("epoch") {
        Some(_) => ("epoch", &FINETUNING),
        None => ("step", &PRETRAINING),
    };
    let series = names
        .iter()
        .map(|&name| Series {
            name,
            points: records
                .iter()
                .filter_map(|r| Some((r.get(x)?.as_f64()?, r.get(name)?.as_f64()?)))
                .filter(|&(x, y)| [x, y].iter().all(|v| v.abs() <= PLOTTABLE))
                .collect(),
            reference: (name == "spo").then_some(("chance, ln 6", 6f64.ln())),
        })
        .filter(|s| !s.points.is_empty())
        .collect::<Vec<_>>();
    if series.is_empty() {
        bail!("{} has no {} values", path.display(), names.join(", "));
    }
    let elapsed_s = records.last().and_then(|r| r.get("elapsed_s")?.as_f64());
    let threads = records.iter().filter_map(|r| r.get("threads")?.as_u64()).fold(None, |range, n| match range {
        None => Some((n, n)),
        Some((fewest, most)) => Some((n.min(fewest), n.max(most))),
    });
    Ok(Curves { x, series, elapsed_s, threads })
}

/// Draws the curves of the run in `dir` into `dir/loss-curves.png` and returns its path.
pub fn draw(dir: &Path) -> Result<PathBuf> {
    let curves = read(dir)?;
    let path = dir.join(PLOT_FILE);
    let png = render(&curves)?;
    crate::atomic::write_bytes(&path, &png)?;
    Ok(path)
}

const PANEL: (u32, u32) = (480, 360);

/// The PNG bytes of `curves`, one panel per series side by side.
fn render(curves: &Curves) -> Result<Vec<u8>> {
    render_panels(PANEL, curves.series.len(), |i, panel| draw_panel(curves.x, &curves.series[i], panel))
}

/// A PNG of `count` panels of `panel` pixels side by side, each drawn by `draw(i, area)`
/// with DejaVu Sans as its sans-serif.
pub(crate) fn render_panels(
    panel: (u32, u32),
    count: usize,
    mut draw: impl FnMut(usize, &DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<()>,
) -> Result<Vec<u8>> {
    register_font()?;
    let size = (panel.0 * count as u32, panel.1);
    let mut rgb = vec![0u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        root.fill(&WHITE).map_err(plotting)?;
        for (i, area) in root.split_evenly((1, count)).iter().enumerate() {
            draw(i, area)?;
        }
        root.present().map_err(plotting)?;
    }
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(&mut png, size.0, size.1);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(&rgb)?;
    Ok(png)
}

fn draw_panel(x: &str, series: &Series, panel: &DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<()> {
    let (x_min, x_max) = bounds(series.points.iter().map(|p| p.0));
    let levels = series.points.iter().map(|p| p.1).chain(series.reference.map(|r| r.1));
    let (y_min, y_max) = bounds(levels);
    let pad = ((y_max - y_min) * 0.08).max(1e-3);
    let mut chart = ChartBuilder::on(panel)
        .caption(series.name, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(x_min..x_max, (y_min - pad)..(y_max + pad))
        .map_err(plotting)?;
    chart.configure_mesh().x_desc(x).light_line_style(WHITE.mix(0.0)).draw().map_err(plotting)?;
    chart.draw_series(LineSeries::new(series.points.iter().copied(), BLUE.stroke_width(2))).map_err(plotting)?;
    if let Some((label, level)) = series.reference {
        chart
            .draw_series(LineSeries::new([(x_min, level), (x_max, level)], RED.mix(0.7)))
            .map_err(plotting)?
            .label(label)
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RED));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .border_style(BLACK)
            .background_style(WHITE)
            .draw()
            .map_err(plotting)?;
    }
    Ok(())
}

/// The range of `values`, widened where it is a single point.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, hi + 0.5)
    }
}

/// DejaVu Sans, built into spe, as plotters' sans-serif: no font is looked up on the system.
fn register_font() -> Result<()> {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular()).is_ok()
    });
    ensure!(*ok, "the built-in font could not be loaded");
    Ok(())
}

/// A drawing error of plotters, as an error of spe's.
pub(crate) fn plotting<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("cannot draw the picture: {e:?}")
}

/// Draws the run's `loss-curves.png` from its metrics at the end of a run; a picture that
/// cannot be drawn is reported, not fatal, since the metrics it would show are written.
pub fn draw_curves(out: &Path) {
    if let Err(e) = draw(out) {
        eprintln!("warning: {e:#}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretraining_metrics_give_one_panel_per_objective_and_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let lines = [
            r#"{"step":10,"lr":1e-4,"loss":9.0,"tbo":5.0,"spo":1.8,"cspo":2.2,"grad_norm":1.0}"#,
            r#"{"step":20,"lr":1e-4,"loss":7.0,"tbo":4.0,"spo":1.5,"cspo":1.5,"grad_norm":1.0}"#,
        ];
        std::fs::write(dir.path().join(METRICS_FILE), lines.join("\n") + "\n").unwrap();
        let curves = read(dir.path()).unwrap();
        assert_eq!(curves.x, "step");
        let names: Vec<_> = curves.series.iter().map(|s| s.name).collect();
        assert_eq!(names, ["tbo", "spo", "cspo"]);
        assert_eq!(curves.series[1].first_last(), Some((1.8, 1.5)));
        let path = draw(dir.path()).unwrap();
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        // The image is 3 panels wide and not blank: the curves and text put colour in it.
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size()];
        reader.next_frame(&mut pixels).unwrap();
        assert_eq!((reader.info().width, reader.info().height), (3 * PANEL.0, PANEL.1));
        assert!(pixels.chunks(3).any(|p| p[2] > 200 && p[0] < 50), "no blue curve");
    }

    #[test]
    fn finetuning_metrics_are_read_over_epochs_and_an_empty_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let line =
            r#"{"epoch":1,"step":4,"loss":3.0,"p_gold":1.0,"dev_ent_f1":0.1,"dev_rel_f1":0.0,"dev_rel_strict_f1":0.0}"#;
        std::fs::write(dir.path().join(METRICS_FILE), format!("{line}\n")).unwrap();
        let curves = read(dir.path()).unwrap();
        assert_eq!(curves.x, "epoch");
        assert_eq!(curves.series.len(), 4);
        std::fs::write(dir.path().join(METRICS_FILE), "").unwrap();
        assert!(read(dir.path()).unwrap_err().to_string().contains("holds no record yet"));
        // Values no run writes are left out rather than stretching the axes past drawing.
        let lines = [
            line.to_string(),
            r#"{"epoch":2,"step":8,"loss":1e308,"dev_ent_f1":-1e308,"dev_rel_f1":0.2,"dev_rel_strict_f1":0.1}"#.into(),
            r#"{"epoch":1e300,"step":8,"loss":2.0,"dev_ent_f1":0.3,"dev_rel_f1":0.2,"dev_rel_strict_f1":0.1}"#.into(),
        ];
        std::fs::write(dir.path().join(METRICS_FILE), lines.join("\n")).unwrap();
        let curves = read(dir.path()).unwrap();
        assert_eq!(curves.series[0].points, [(1.0, 3.0)]);
        draw(dir.path()).unwrap();
    }
}
