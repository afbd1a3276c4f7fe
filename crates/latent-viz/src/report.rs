//! Self-contained HTML reports: headings, paragraphs, tables and PNG pictures embedded as data
//! URIs, so one file can be mailed or archived on its own.

use std::path::Path;

use base64::Engine;

use crate::VizError;

/// An HTML page under construction: the builder methods append to its body in the order they
/// are called, and all text is escaped with [`escape`].
#[derive(Debug, Clone, Default)]
pub struct Report {
    title: String,
    body: String,
}

/// `text` with HTML's special characters escaped (`&`, `<`, `>`, `"` and `'`, as entities).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl Report {
    /// An empty page titled `title` (its `<title>` and `<h1>`).
    pub fn new(title: &str) -> Self {
        Self {
            title: title.to_string(),
            body: String::new(),
        }
    }

    /// Appends a section heading (`<h2>`).
    pub fn heading(&mut self, text: &str) -> &mut Self {
        self.body += &format!("<h2>{}</h2>\n", escape(text));
        self
    }

    /// Appends a paragraph of text.
    pub fn paragraph(&mut self, text: &str) -> &mut Self {
        self.body += &format!("<p>{}</p>\n", escape(text));
        self
    }

    /// A two-column table of names and values.
    pub fn table(&mut self, rows: &[(String, String)]) -> &mut Self {
        self.body += "<table>\n";
        for (name, value) in rows {
            self.body += &format!(
                "<tr><th>{}</th><td>{}</td></tr>\n",
                escape(name),
                escape(value)
            );
        }
        self.body += "</table>\n";
        self
    }

    /// The PNG at `path`, embedded, with a caption.
    pub fn image(&mut self, caption: &str, path: &Path) -> Result<&mut Self, VizError> {
        let bytes = std::fs::read(path).map_err(|cause| VizError::Io {
            path: path.to_path_buf(),
            cause,
        })?;
        let data = base64::engine::general_purpose::STANDARD.encode(bytes);
        self.body += &format!(
            "<figure><img alt=\"{0}\" src=\"data:image/png;base64,{data}\"><figcaption>{0}</figcaption></figure>\n",
            escape(caption)
        );
        Ok(self)
    }

    /// The whole page.
    pub fn html(&self) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n\
             <style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}}\
             table{{border-collapse:collapse}}th,td{{border:1px solid #ccc;padding:.25em .6em;text-align:left}}\
             th{{background:#f4f4f4}}figure{{margin:1em 0}}img{{max-width:100%;image-rendering:pixelated}}\
             figcaption{{color:#555;font-size:.9em}}</style>\n</head>\n<body>\n<h1>{title}</h1>\n{body}</body>\n</html>\n",
            title = escape(&self.title),
            body = self.body
        )
    }

    /// Writes the page ([`Report::html`]) to `path`.
    pub fn write(&self, path: &Path) -> Result<(), VizError> {
        std::fs::write(path, self.html()).map_err(|cause| VizError::Io {
            path: path.to_path_buf(),
            cause,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_images_are_embedded_byte_for_byte() {
        let dir = std::env::temp_dir().join(format!("latent-viz-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let png = dir.join("a.png");
        crate::write_grey_png(&png, 2, 1, &[0, 255]).unwrap();
        let mut report = Report::new("a <b> & \"c\"");
        report
            .heading("x<y")
            .paragraph("1 & 2")
            .table(&[("k".into(), "<v>".into())]);
        report.image("pic", &png).unwrap();
        let html = report.html();
        assert!(html.contains("<h1>a &lt;b&gt; &amp; &quot;c&quot;</h1>"));
        assert!(html.contains("<h2>x&lt;y</h2>") && html.contains("<p>1 &amp; 2</p>"));
        assert!(html.contains("<td>&lt;v&gt;</td>"));
        let start = html.find("base64,").unwrap() + 7;
        let end = start + html[start..].find('"').unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(&html[start..end])
            .unwrap();
        assert_eq!(decoded, std::fs::read(&png).unwrap());
        assert!(matches!(
            report.image("missing", &dir.join("none.png")),
            Err(VizError::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
