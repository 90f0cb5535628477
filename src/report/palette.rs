//! The colours every chart uses, so that charts look alike and stay deterministic.

use plotters::style::RGBColor;

/// Series colours: category10 without its red, which [`ALERT`] keeps.
pub(crate) const PALETTE: [RGBColor; 9] = [
    RGBColor(0x1F, 0x77, 0xB4),
    RGBColor(0xFF, 0x7F, 0x0E),
    RGBColor(0x2C, 0xA0, 0x2C),
    RGBColor(0x94, 0x67, 0xBD),
    RGBColor(0x8C, 0x56, 0x4B),
    RGBColor(0xE3, 0x77, 0xC2),
    RGBColor(0x17, 0xBE, 0xCF),
    RGBColor(0xBC, 0xBD, 0x22),
    RGBColor(0x7F, 0x7F, 0x7F),
];

/// Failures, faults, targets and SLOs.
pub(crate) const ALERT: RGBColor = RGBColor(0xD6, 0x27, 0x28);

/// Helpers for tests that inspect SVG output.
#[cfg(test)]
pub(crate) mod svg {
    use plotters::style::RGBColor;

    /// `#RRGGBB`, as plotters writes colours.
    pub fn hex(c: RGBColor) -> String {
        format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
    }

    /// The SVG elements named `tag` (their opening tags, and a text's content).
    pub fn elements<'s>(svg: &'s str, tag: &str) -> Vec<&'s str> {
        svg.split('<')
            .filter(|e| {
                e.strip_prefix(tag)
                    .is_some_and(|rest| rest.starts_with(' '))
            })
            .collect()
    }
}
