//! How the command-line verbs print: aligned tables and escaped fields.
//! Pure functions, so what users see is pinned by tests.

use base64::Engine as _;

/// Renders `rows` under `header` as left-aligned columns two spaces apart,
/// without trailing spaces; every line ends in `\n`.
pub(crate) fn render_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let column_count = header.len();
    let mut widths: Vec<usize> = header.iter().map(|title| title.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let header_cells: Vec<String> = header.iter().map(|title| (*title).to_owned()).collect();
    for row in std::iter::once(&header_cells).chain(rows) {
        let mut line = String::new();
        for (index, width) in widths.iter().enumerate() {
            let cell = row.get(index).map_or("", String::as_str);
            line.push_str(cell);
            if index + 1 < column_count {
                let padding = width.saturating_sub(cell.chars().count()) + 2;
                line.extend(std::iter::repeat_n(' ', padding));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// A key or value as one tab-separated field: UTF-8 with `\`, tab,
/// newline and carriage return escaped as `\\`, `\t`, `\n`, `\r`; bytes
/// that are not UTF-8 as `base64:` and their base64.
pub(crate) fn escape_field(bytes: &[u8]) -> String {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return format!(
            "base64:{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        );
    };
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '\\' => escaped.push_str("\\\\"),
            '\t' => escaped.push_str("\\t"),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// An optional number, or `-`.
pub(crate) fn number_or_dash(value: Option<u64>) -> String {
    value.map_or_else(|| "-".to_owned(), |number| number.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|cell| (*cell).to_owned()).collect()
    }

    #[test]
    fn tables_align_columns_and_trim_line_ends() {
        let table = render_table(
            &["id", "address", "role"],
            &[
                row(&["1", "http://127.0.0.1:8001", "leader"]),
                row(&["12", "-", ""]),
            ],
        );
        let expected = "\
id  address                role
1   http://127.0.0.1:8001  leader
12  -
";
        assert_eq!(table, expected);
    }

    #[test]
    fn tables_tolerate_short_rows_and_wide_characters() {
        let table = render_table(&["k", "v"], &[row(&["ü"]), row(&["ab", "c"])]);
        assert_eq!(table, "k   v\nü\nab  c\n");
    }

    #[test]
    fn fields_escape_separators_and_binary() {
        assert_eq!(escape_field(b"plain value"), "plain value");
        assert_eq!(escape_field(b"a\tb\nc\\d\r"), "a\\tb\\nc\\\\d\\r");
        assert_eq!(escape_field(&[0xff, 0x00]), "base64:/wA=");
        assert_eq!(escape_field("ü".as_bytes()), "ü");
    }

    #[test]
    fn missing_numbers_show_as_dashes() {
        assert_eq!(number_or_dash(Some(7)), "7");
        assert_eq!(number_or_dash(None), "-");
    }
}
