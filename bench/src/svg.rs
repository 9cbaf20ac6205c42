//! A small log-log line chart written as SVG by hand, so that the demo
//! needs no plotting library.

use std::fmt::Write;

/// One line of a panel.
pub struct Series {
    /// The legend entry.
    pub label: String,
    /// An SVG colour.
    pub color: &'static str,
    /// Dashed instead of solid.
    pub dashed: bool,
    /// (x, y) points, both positive.
    pub points: Vec<(f64, f64)>,
}

/// One chart of a grid.
pub struct Panel {
    /// Written above the plot.
    pub title: String,
    /// The lines.
    pub series: Vec<Series>,
}

const PANEL_W: f64 = 440.0;
const PANEL_H: f64 = 300.0;
const MARGIN_L: f64 = 70.0;
const MARGIN_R: f64 = 20.0;
const MARGIN_T: f64 = 40.0;
const MARGIN_B: f64 = 50.0;

/// Renders `panels` on a grid of `columns`, with one shared legend.
pub fn render(
    title: &str,
    x_label: &str,
    y_label: &str,
    columns: usize,
    panels: &[Panel],
) -> String {
    let columns = columns.max(1);
    let rows = panels.len().div_ceil(columns);
    let legend_h = 30.0;
    let width = columns as f64 * PANEL_W;
    let height = 40.0 + rows as f64 * PANEL_H + legend_h;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="16">{}</text>"#,
        width / 2.0,
        escape(title)
    );
    for (i, panel) in panels.iter().enumerate() {
        let ox = (i % columns) as f64 * PANEL_W;
        let oy = 40.0 + (i / columns) as f64 * PANEL_H;
        draw_panel(&mut svg, panel, ox, oy, x_label, y_label);
    }
    if let Some(first) = panels.first() {
        draw_legend(&mut svg, &first.series, 40.0 + rows as f64 * PANEL_H + 10.0);
    }
    svg.push_str("</svg>\n");
    svg
}

/// The decade range [10^lo, 10^hi] that holds all `values`.
fn decades(values: impl Iterator<Item = f64>) -> (i32, i32) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && *v > 0.0) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0, 1);
    }
    let lo = lo.log10().floor() as i32;
    let hi = (hi.log10().ceil() as i32).max(lo + 1);
    (lo, hi)
}

fn draw_panel(svg: &mut String, panel: &Panel, ox: f64, oy: f64, x_label: &str, y_label: &str) {
    let points = || panel.series.iter().flat_map(|s| s.points.iter());
    let (x_lo, x_hi) = decades(points().map(|p| p.0));
    let (y_lo, y_hi) = decades(points().map(|p| p.1));
    let plot_w = PANEL_W - MARGIN_L - MARGIN_R;
    let plot_h = PANEL_H - MARGIN_T - MARGIN_B;
    let (px, py) = (ox + MARGIN_L, oy + MARGIN_T);
    let sx = |x: f64| px + (x.log10() - x_lo as f64) / (x_hi - x_lo) as f64 * plot_w;
    let sy = |y: f64| py + plot_h - (y.log10() - y_lo as f64) / (y_hi - y_lo) as f64 * plot_h;

    // The frame and the title.
    let _ = writeln!(
        svg,
        r##"<rect x="{px}" y="{py}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#444"/>"##
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle" font-size="13">{}</text>"#,
        px + plot_w / 2.0,
        oy + 24.0,
        escape(&panel.title)
    );

    // Grid lines at 1, 2 and 5 of every decade; labels on the decades.
    for d in x_lo..=x_hi {
        for m in [1.0, 2.0, 5.0] {
            let v = m * 10f64.powi(d);
            if d == x_hi && m > 1.0 {
                break;
            }
            let x = sx(v);
            let _ = writeln!(
                svg,
                r##"<line x1="{x:.1}" y1="{py}" x2="{x:.1}" y2="{}" stroke="#ddd"/>"##,
                py + plot_h
            );
            let _ = writeln!(
                svg,
                r#"<text x="{x:.1}" y="{}" text-anchor="middle" font-size="10">{}</text>"#,
                py + plot_h + 14.0,
                tick_label(v)
            );
        }
    }
    for d in y_lo..=y_hi {
        for m in [1.0, 2.0, 5.0] {
            let v = m * 10f64.powi(d);
            if d == y_hi && m > 1.0 {
                break;
            }
            let y = sy(v);
            let _ = writeln!(
                svg,
                r##"<line x1="{px}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/>"##,
                px + plot_w
            );
            let _ = writeln!(
                svg,
                r#"<text x="{}" y="{:.1}" text-anchor="end" font-size="10">{}</text>"#,
                px - 4.0,
                y + 3.0,
                ns_label(v)
            );
        }
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        px + plot_w / 2.0,
        py + plot_h + 34.0,
        escape(x_label)
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate({},{}) rotate(-90)" text-anchor="middle">{}</text>"#,
        ox + 16.0,
        py + plot_h / 2.0,
        escape(y_label)
    );

    // The lines, with a dot on every measured point.
    for s in &panel.series {
        let path: Vec<String> = s
            .points
            .iter()
            .filter(|p| p.0 > 0.0 && p.1 > 0.0)
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let dash = if s.dashed {
            r#" stroke-dasharray="5,4""#
        } else {
            ""
        };
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{dash}/>"#,
            path.join(" "),
            s.color
        );
        for p in &path {
            let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(
                svg,
                r#"<circle cx="{x}" cy="{y}" r="2.5" fill="{}"/>"#,
                s.color
            );
        }
    }
}

fn draw_legend(svg: &mut String, series: &[Series], y: f64) {
    let mut x = 20.0;
    for s in series {
        let dash = if s.dashed {
            r#" stroke-dasharray="5,4""#
        } else {
            ""
        };
        let _ = writeln!(
            svg,
            r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="{}" stroke-width="2"{dash}/>"#,
            x + 24.0,
            s.color
        );
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}">{}</text>"#,
            x + 30.0,
            y + 4.0,
            escape(&s.label)
        );
        x += 40.0 + 7.0 * s.label.len() as f64;
    }
}

fn tick_label(v: f64) -> String {
    if v >= 1000.0 && (v / 1000.0).fract() == 0.0 {
        format!("{}k", v / 1000.0)
    } else {
        format!("{v}")
    }
}

fn ns_label(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{} us", ns / 1e3)
    } else {
        format!("{ns} ns")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panel() -> Panel {
        Panel {
            title: "a <b>".into(),
            series: vec![Series {
                label: "epoll".into(),
                color: "#000",
                dashed: true,
                points: vec![(100.0, 3000.0), (9900.0, 3100.0)],
            }],
        }
    }

    #[test]
    fn decades_cover_every_positive_value() {
        assert_eq!(decades([100.0, 9900.0].into_iter()), (2, 4));
        assert_eq!(decades([2795.0, 3652500.0].into_iter()), (3, 7));
        assert_eq!(decades([0.0, -1.0, f64::NAN].into_iter()), (0, 1));
    }

    #[test]
    fn chart_is_one_svg_with_a_line_per_series_and_escaped_text() {
        let svg = render("t", "x", "y", 2, &[panel(), panel()]);
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("stroke-dasharray").count(), 3);
        assert!(svg.contains("a &lt;b&gt;"));
        assert!(svg.contains(">10k<") && svg.contains(">100<"));
    }
}
