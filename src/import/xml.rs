//! firewalld's XML files as roxmltree documents: parse errors and element positions as
//! `file:line:col`.

use std::fmt;

/// A place in an input file (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pos {
    pub file: String,
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// A file that could not be read as firewalld configuration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{at}: {message}")]
pub struct XmlError {
    pub at: Pos,
    pub message: String,
}

/// Parses `text` (named `file` in errors); DTDs are refused, as roxmltree does by default.
pub fn parse<'a>(file: &str, text: &'a str) -> Result<roxmltree::Document<'a>, XmlError> {
    roxmltree::Document::parse(text).map_err(|e| {
        let p = e.pos();
        XmlError {
            at: Pos {
                file: file.to_string(),
                line: p.row,
                col: p.col,
            },
            message: format!("not well-formed XML: {e}"),
        }
    })
}

/// Where `node` starts.
pub fn pos(file: &str, node: roxmltree::Node<'_, '_>) -> Pos {
    let p = node.document().text_pos_at(node.range().start);
    Pos {
        file: file.to_string(),
        line: p.row,
        col: p.col,
    }
}

/// An error at `node`.
pub fn error(file: &str, node: roxmltree::Node<'_, '_>, message: impl Into<String>) -> XmlError {
    XmlError {
        at: pos(file, node),
        message: message.into(),
    }
}

/// The element children of `node`.
pub fn elements<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> {
    node.children().filter(roxmltree::Node::is_element)
}

/// A required attribute, or an error at the element.
pub fn attr<'a>(
    file: &str,
    node: roxmltree::Node<'a, '_>,
    name: &str,
) -> Result<&'a str, XmlError> {
    node.attribute(name).ok_or_else(|| {
        error(
            file,
            node,
            format!("<{}> has no `{name}` attribute", node.tag_name().name()),
        )
    })
}
