//! Charts as SVG text (plotters' SVG backend; no JavaScript, no fonts to ship), for the report
//! pages of `demo --report` and `bench match --report`.

use plotters::prelude::*;

use crate::error::CliError;

/// A chart that could not be drawn (plotters' backend error, as text).
fn drawing(e: impl std::fmt::Display) -> CliError {
    CliError::Environment {
        what: "a report chart",
        source: format!("cannot draw: {e}").into(),
    }
}

/// A named series of points, drawn as a line with markers (`dashed`: a line only).
pub struct Series<'a> {
    pub name: &'a str,
    pub color: RGBColor,
    pub points: Vec<(f64, f64)>,
    pub markers: bool,
}

/// A line chart of `series` on [0, x_max] × [0, y_max], with a vertical marker line at
/// `marker` (x, label) when given.
pub fn lines(
    title: &str,
    x_label: &str,
    y_label: &str,
    (x_max, y_max): (f64, f64),
    series: &[Series<'_>],
    marker: Option<(f64, &str)>,
) -> Result<String, CliError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 440)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .draw()
            .map_err(drawing)?;
        for s in series {
            let color = s.color;
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(drawing)?
                .label(s.name)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2))
                });
            if s.markers {
                chart
                    .draw_series(s.points.iter().map(|&p| Circle::new(p, 4, color.filled())))
                    .map_err(drawing)?;
            }
        }
        if let Some((x, label)) = marker {
            let grey = RGBColor(120, 120, 120);
            chart
                .draw_series(LineSeries::new(
                    [(x, 0.0), (x, y_max)],
                    grey.stroke_width(1),
                ))
                .map_err(drawing)?
                .label(label)
                .legend(move |(px, py)| PathElement::new([(px, py), (px + 18, py)], grey));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(drawing)?;
        root.present().map_err(drawing)?;
    }
    Ok(svg)
}

/// Grouped bars: for each category, one bar per series (`values[series][category]`).
pub fn bars(
    title: &str,
    y_label: &str,
    categories: &[String],
    series: &[(&str, RGBColor)],
    values: &[Vec<f64>],
) -> Result<String, CliError> {
    let y_max = values
        .iter()
        .flatten()
        .copied()
        .fold(0.0_f64, f64::max)
        .max(1.0)
        * 1.15;
    let groups = categories.len().max(1);
    let width = series.len().max(1) as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 440)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.5..groups as f64 - 0.5, 0.0..y_max)
            .map_err(drawing)?;
        let names = categories.to_vec();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(groups)
            .x_label_formatter(&move |x| {
                let at = x.round();
                if (x - at).abs() < 0.01 && at >= 0.0 {
                    names.get(at as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc(y_label)
            .draw()
            .map_err(drawing)?;
        for (s, (name, color)) in series.iter().enumerate() {
            let color = *color;
            let row = values.get(s).cloned().unwrap_or_default();
            chart
                .draw_series(row.iter().enumerate().map(|(g, &v)| {
                    let left = g as f64 - 0.4 + 0.8 * s as f64 / width;
                    let right = left + 0.8 / width;
                    Rectangle::new([(left, 0.0), (right, v)], color.filled())
                }))
                .map_err(drawing)?
                .label(*name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(drawing)?;
        root.present().map_err(drawing)?;
    }
    Ok(svg)
}

/// A named group of points of one colour.
pub type Group<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

/// A scatter plot of two groups of points, with reference lines at the given x and y values.
pub fn scatter(
    title: &str,
    x_label: &str,
    y_label: &str,
    (x_max, y_max): (f64, f64),
    groups: &[Group<'_>],
    references: &[(f64, f64, &str)],
) -> Result<String, CliError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .draw()
            .map_err(drawing)?;
        for (x, y, label) in references {
            let grey = RGBColor(150, 150, 150);
            let line = if *x > 0.0 {
                [(*x, 0.0), (*x, y_max)]
            } else {
                [(0.0, *y), (x_max, *y)]
            };
            chart
                .draw_series(LineSeries::new(line, grey.stroke_width(1)))
                .map_err(drawing)?
                .label(*label)
                .legend(move |(px, py)| PathElement::new([(px, py), (px + 18, py)], grey));
        }
        for (name, color, points) in groups {
            let color = *color;
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|&p| Circle::new(p, 3, color.mix(0.6).filled())),
                )
                .map_err(drawing)?
                .label(*name)
                .legend(move |(x, y)| Circle::new((x + 6, y), 4, color.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(drawing)?;
        root.present().map_err(drawing)?;
    }
    Ok(svg)
}

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A self-contained page: the title, then each (heading, paragraph, body HTML) section.
pub fn page(title: &str, intro: &str, sections: &[(String, String, String)]) -> String {
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{t}</title>\n<style>body{{font-family:sans-serif;max-width:760px;margin:2em auto;color:#222}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}figure{{margin:1em 0}}</style>\n</head>\n<body>\n<h1>{t}</h1>\n<p>{intro}</p>\n",
        t = escape(title),
        intro = escape(intro)
    );
    for (heading, text, body) in sections {
        html.push_str(&format!(
            "<h2>{}</h2>\n<p>{}</p>\n<figure>\n{body}\n</figure>\n",
            escape(heading),
            escape(text)
        ));
    }
    html.push_str("</body>\n</html>\n");
    html
}
