//! Aligned text tables for human output.

/// A table: a header and rows of cells, printed in columns two spaces apart.
pub(crate) struct Table {
    /// Column titles.
    header: Vec<&'static str>,
    /// Cells, one `Vec` per row; rows shorter than the header are padded.
    rows: Vec<Vec<String>>,
    /// Columns aligned to the right (numbers).
    right: Vec<usize>,
}

impl Table {
    /// A table with these column titles.
    pub(crate) fn new(header: &[&'static str]) -> Table {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
            right: Vec::new(),
        }
    }

    /// Aligns these columns (0-based) to the right.
    pub(crate) fn right(mut self, columns: &[usize]) -> Table {
        self.right = columns.to_vec();
        self
    }

    /// Adds a row.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as lines; the header in bold when `bold` (a terminal).
    pub(crate) fn render(&self, bold: bool) -> String {
        let columns = self.header.len();
        let width = |s: &str| s.chars().map(columns_of).sum::<usize>();
        let mut widths: Vec<usize> = self.header.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(width(cell));
            }
        }
        let line = |cells: &mut dyn Iterator<Item = &str>| {
            let mut out = String::new();
            for (i, cell) in cells.enumerate().take(columns) {
                let pad = widths[i].saturating_sub(width(cell));
                if i > 0 {
                    out.push_str("  ");
                }
                if self.right.contains(&i) {
                    out.extend(std::iter::repeat_n(' ', pad));
                    out.push_str(cell);
                } else {
                    out.push_str(cell);
                    if i + 1 < columns {
                        out.extend(std::iter::repeat_n(' ', pad));
                    }
                }
            }
            out.truncate(out.trim_end().len());
            out
        };
        let mut text = String::new();
        let head = line(&mut self.header.iter().copied());
        if bold {
            text.push_str(&format!("\x1b[1m{head}\x1b[0m\n"));
        } else {
            text.push_str(&head);
            text.push('\n');
        }
        for row in &self.rows {
            let mut cells = row
                .iter()
                .map(String::as_str)
                .chain(std::iter::repeat(""))
                .take(columns);
            text.push_str(&line(&mut cells));
            text.push('\n');
        }
        text
    }
}

/// Terminal columns a character takes: 2 for East Asian wide and fullwidth ones
/// (Chinese names and messages are common here), else 1. An approximation of
/// Unicode's East Asian Width without a table dependency.
fn columns_of(c: char) -> usize {
    match c as u32 {
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_and_lines_have_no_trailing_space() {
        let mut t = Table::new(&["ID", "N", "NOTE"]).right(&[1]);
        t.row(vec!["a".into(), "10".into(), "x".into()]);
        t.row(vec!["long-id".into(), "2".into()]);
        assert_eq!(
            t.render(false),
            "ID        N  NOTE\na        10  x\nlong-id   2\n"
        );
        assert!(t.render(true).starts_with("\x1b[1m"));
        let mut t = Table::new(&["NAME", "X"]);
        t.row(vec!["李雷".into(), "1".into()]);
        t.row(vec!["Li Lei".into(), "2".into()]);
        assert_eq!(t.render(false), "NAME    X\n李雷    1\nLi Lei  2\n");
    }
}
