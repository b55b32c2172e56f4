//! Charts drawn as SVG text: lines over time and horizontal bars. Each data point carries its
//! numbers (`data-*` attributes and a tooltip), so the page can be checked against the tables
//! and read without any script or server.

use std::fmt::Write;

/// Ten colours that stay apart for most readers (Tableau 10).
const PALETTE: [&str; 10] = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

/// Fonts for chart text, in order of preference (the PNG renderer takes the first it has).
pub const FONTS: &str = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif";

/// One point of a line.
#[derive(Debug, Clone)]
pub struct Point {
    /// Bucket.
    pub period: i32,
    /// Percentage shown.
    pub value: f64,
    /// Units using the thing.
    pub with: u64,
    /// Units in the bucket.
    pub units: u64,
}

/// One line.
#[derive(Debug, Clone)]
pub struct Series {
    /// Key written in `data-series` (a column value of the tables).
    pub key: String,
    /// Legend text.
    pub name: String,
    /// Points in bucket order.
    pub points: Vec<Point>,
}

/// A chart of shares over time.
#[derive(Debug, Clone)]
pub struct LineChart {
    /// File stem and element id.
    pub id: String,
    /// Heading.
    pub title: String,
    /// What a unit is (`releases`), for tooltips.
    pub unit: String,
    /// Written in `data-view`: the table's view (or table name).
    pub view: String,
    /// Every bucket on the x axis, with its label.
    pub buckets: Vec<(i32, String)>,
    /// Lines.
    pub series: Vec<Series>,
}

/// A bar chart of shares.
#[derive(Debug, Clone)]
pub struct BarChart {
    /// File stem and element id.
    pub id: String,
    /// Heading.
    pub title: String,
    /// `(label, percentage, count)`, top to bottom.
    pub bars: Vec<(String, f64, u64)>,
}

/// Escapes text for XML content and attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The smallest round top of the y axis at or above `max` (a percentage).
fn y_top(max: f64) -> f64 {
    [1.0, 2.0, 5.0, 10.0, 20.0, 25.0, 40.0, 50.0, 60.0, 80.0, 100.0].into_iter().find(|t| *t >= max).unwrap_or(100.0)
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { format!("{}…", s.chars().take(n - 1).collect::<String>()) }
}

fn open_svg(out: &mut String, w: u32, h: u32, id: &str, title: &str) {
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" id="{id}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" font-family="{FONTS}" font-size="12" role="img" aria-label="{t}"><rect width="{w}" height="{h}" fill="#ffffff"/><text x="10" y="20" font-size="14" font-weight="bold" fill="#222">{t}</text>"##,
        id = esc(id),
        t = esc(title)
    );
}

/// Draws a line chart; an empty one says so.
pub fn line_svg(c: &LineChart) -> String {
    let (w, h) = (760u32, 340u32);
    let (left, right, top, bottom) = (48.0, w as f64 - 230.0, 36.0, h as f64 - 44.0);
    let mut out = String::new();
    open_svg(&mut out, w, h, &c.id, &c.title);
    let n = c.buckets.len();
    let first = c.buckets.first().map_or(0, |b| b.0);
    let span = c.buckets.last().map_or(0, |b| b.0) - first;
    let x = |p: i32| if span == 0 { (left + right) / 2.0 } else { left + (right - left) * f64::from(p - first) / f64::from(span) };
    let max = c.series.iter().flat_map(|s| s.points.iter().map(|p| p.value)).fold(0.0f64, f64::max);
    let top_v = y_top(max);
    let y = |v: f64| bottom - (bottom - top) * v / top_v;
    // grid and axes
    for i in 0..=4 {
        let v = top_v * f64::from(i) / 4.0;
        let _ = write!(
            out,
            r##"<line x1="{left}" x2="{right}" y1="{yy:.1}" y2="{yy:.1}" stroke="#e3e3e3"/><text x="{tx}" y="{ty:.1}" text-anchor="end" fill="#555">{v} %</text>"##,
            yy = y(v),
            tx = left - 6.0,
            ty = y(v) + 4.0,
            v = trim(v)
        );
    }
    let step = n.div_ceil(8).max(1);
    for (i, (p, label)) in c.buckets.iter().enumerate() {
        if i % step == 0 {
            let _ = write!(out, r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#555">{}</text>"##, x(*p), bottom + 18.0, esc(label));
        }
    }
    let _ = write!(out, r##"<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="#888"/>"##);
    if c.series.iter().all(|s| s.points.is_empty()) {
        let _ = write!(out, r##"<text x="{}" y="{}" text-anchor="middle" fill="#888">no data</text>"##, (left + right) / 2.0, (top + bottom) / 2.0);
    }
    let labels: std::collections::HashMap<i32, &str> = c.buckets.iter().map(|(p, l)| (*p, l.as_str())).collect();
    for (k, s) in c.series.iter().enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        if s.points.len() > 1 {
            let pts: Vec<String> = s.points.iter().map(|p| format!("{:.1},{:.1}", x(p.period), y(p.value))).collect();
            let _ = write!(out, r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#, pts.join(" "));
        }
        for p in &s.points {
            let period = labels.get(&p.period).copied().unwrap_or("");
            let _ = write!(
                out,
                r#"<circle class="pt" cx="{:.1}" cy="{:.1}" r="2.6" fill="{colour}" data-view="{}" data-series="{}" data-period="{}" data-value="{:.1}" data-with="{}" data-units="{}"><title>{}, {}: {:.1} % ({} of {} {})</title></circle>"#,
                x(p.period),
                y(p.value),
                esc(&c.view),
                esc(&s.key),
                esc(period),
                p.value,
                p.with,
                p.units,
                esc(&s.name),
                esc(period),
                p.value,
                p.with,
                p.units,
                esc(&c.unit)
            );
        }
        let ly = top + 6.0 + 18.0 * k as f64;
        let _ = write!(
            out,
            r##"<line x1="{lx}" x2="{lx2}" y1="{ly:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="3"/><text x="{tx}" y="{ty:.1}" fill="#222">{}</text>"##,
            esc(&shorten(&s.name, 34)),
            lx = right + 14.0,
            lx2 = right + 32.0,
            tx = right + 38.0,
            ty = ly + 4.0
        );
    }
    out.push_str("</svg>");
    out
}

fn trim(v: f64) -> String {
    if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.1}") }
}

/// Draws a horizontal bar chart; an empty one says so.
pub fn bar_svg(c: &BarChart) -> String {
    let w = 760u32;
    let row = 20.0;
    let h = (48.0 + row * c.bars.len().max(1) as f64 + 10.0) as u32;
    let (left, right, top) = (200.0, w as f64 - 120.0, 36.0);
    let mut out = String::new();
    open_svg(&mut out, w, h, &c.id, &c.title);
    if c.bars.is_empty() {
        let _ = write!(out, r##"<text x="{}" y="{}" text-anchor="middle" fill="#888">no data</text>"##, w / 2, top + 16.0);
    }
    let max = c.bars.iter().map(|b| b.1).fold(0.0f64, f64::max).max(0.1);
    for (i, (label, value, count)) in c.bars.iter().enumerate() {
        let yy = top + row * i as f64;
        let bw = (right - left) * value / max;
        let _ = write!(
            out,
            r##"<text x="{}" y="{:.1}" text-anchor="end" fill="#222">{}</text><rect class="bar" x="{left}" y="{:.1}" width="{bw:.1}" height="{}" fill="{}" data-chart="{}" data-label="{}" data-value="{value:.1}" data-count="{count}"><title>{}: {value:.1} % ({count})</title></rect><text x="{:.1}" y="{:.1}" fill="#555">{value:.1} % ({count})</text>"##,
            left - 6.0,
            yy + 14.0,
            esc(&shorten(label, 30)),
            yy + 3.0,
            row - 6.0,
            PALETTE[0],
            esc(&c.id),
            esc(label),
            esc(label),
            left + bw + 6.0,
            yy + 14.0
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(points: Vec<Point>) -> LineChart {
        LineChart {
            id: "c".into(),
            title: "T <&>".into(),
            unit: "releases".into(),
            view: "release".into(),
            buckets: (2020..=2024).map(|y| (y, y.to_string())).collect(),
            series: vec![Series { key: "fstrings".into(), name: "f-strings".into(), points }],
        }
    }

    #[test]
    fn points_carry_their_numbers_and_text_is_escaped() {
        let svg = line_svg(&chart(vec![Point { period: 2021, value: 12.5, with: 1, units: 8 }, Point { period: 2024, value: 50.0, with: 4, units: 8 }]));
        assert!(svg.contains(r#"data-series="fstrings" data-period="2021" data-value="12.5" data-with="1" data-units="8""#), "{svg}");
        assert!(svg.contains("T &lt;&amp;&gt;") && !svg.contains("T <&>"));
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("<polyline"));
        // y axis tops at 50 %: the 50 % point sits on the top grid line
        assert!(svg.contains(">50 %</text>") && !svg.contains(">100 %</text>"));
    }

    #[test]
    fn empty_charts_say_so() {
        assert!(line_svg(&chart(Vec::new())).contains("no data"));
        assert!(bar_svg(&BarChart { id: "b".into(), title: "B".into(), bars: Vec::new() }).contains("no data"));
        let b = bar_svg(&BarChart { id: "b".into(), title: "B".into(), bars: vec![("os".into(), 80.0, 8)] });
        assert!(b.contains(r#"data-label="os" data-value="80.0" data-count="8""#));
    }
}
