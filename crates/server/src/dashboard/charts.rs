//! Bar charts as inline SVG, drawn on the server (no chart service, no script).

use maud::{Markup, html};
use threadhold_domain::dashboard::{DAY_MS, Day};
use threadhold_domain::format_ms;

const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 120.0;

/// A bar per day, labelled for screen readers with the total and the busiest day.
pub fn bars(title: &str, days: &[(Day, i64)]) -> Markup {
    let max = days.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1) as f64;
    let total: i64 = days.iter().map(|(_, n)| n).sum();
    let slot = WIDTH / days.len().max(1) as f64;
    let label = |day: Day| format_ms(day * DAY_MS)[..10].to_owned();
    let summary = format!("{title}: {total} over {} days", days.len());
    html! {
        figure.chart {
            figcaption { (title) " " span.muted { "(" (total) ")" } }
            svg viewBox=(format!("0 0 {WIDTH} {}", HEIGHT + 18.0)) role="img" aria-label=(summary) {
                @for (index, (day, count)) in days.iter().enumerate() {
                    @let height = (*count as f64 / max * HEIGHT).max(if *count > 0 { 1.0 } else { 0.0 });
                    rect x=(format!("{:.1}", index as f64 * slot + 1.0)) y=(format!("{:.1}", HEIGHT - height))
                        width=(format!("{:.1}", (slot - 2.0).max(1.0))) height=(format!("{height:.1}")) {
                        title { (label(*day)) ": " (count) }
                    }
                }
                @if let (Some((first, _)), Some((last, _))) = (days.first(), days.last()) {
                    text x="0" y=(HEIGHT + 14.0) { (label(*first)) }
                    text x=(WIDTH) y=(HEIGHT + 14.0) text-anchor="end" { (label(*last)) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_busiest_day_and_escape_text() {
        let markup = bars("Messages <per day>", &[(0, 0), (1, 5), (2, 10)]).into_string();
        assert!(markup.contains("Messages &lt;per day&gt;: 15 over 3 days"), "{markup}");
        assert!(markup.contains(r#"height="120.0""#), "the busiest day fills the chart");
        assert!(markup.contains(r#"height="60.0""#));
        assert!(markup.contains("1970-01-03: 10"));
        assert!(bars("Empty", &[]).into_string().contains("Empty: 0 over 0 days"));
    }
}
