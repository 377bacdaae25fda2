//! Tokens to a tree of `key value` entries, where a value is a number, a
//! string or a `[ ... ]` list of further entries. Knows nothing of graphs.

use super::lexer::{Lexer, Pos, Token, TokenKind};
use super::{GmlError, GmlErrorKind};

/// How deep lists may nest; a network graph needs three levels, so this
/// only stops a hostile file from exhausting the stack.
const MAX_DEPTH: u32 = 64;

/// One `key value` pair.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Entry<'a> {
    /// The key as written.
    pub key: &'a str,
    /// Where the key is.
    pub key_pos: Pos,
    /// The value.
    pub value: Value<'a>,
    /// Where the value starts.
    pub value_pos: Pos,
}

/// A GML value.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value<'a> {
    /// A whole number as written.
    Int(&'a str),
    /// A number with a fraction or exponent as written.
    Float(&'a str),
    /// A quoted string's contents.
    Str(&'a str),
    /// A `[ ... ]` list.
    List(Vec<Entry<'a>>),
}

impl Value<'_> {
    /// How the value reads in a message.
    pub fn describe(&self) -> String {
        match self {
            Value::Int(n) | Value::Float(n) => format!("the number {n}"),
            Value::Str(s) => format!("the string \"{s}\""),
            Value::List(_) => "a list".to_string(),
        }
    }
}

/// Parses a whole GML text into its top-level entries.
pub(super) fn parse(text: &str) -> Result<Vec<Entry<'_>>, GmlError> {
    let mut lexer = Lexer::new(text);
    entries(&mut lexer, None, 0)
}

/// The list that is open while reading entries: its key and `[` line.
struct OpenList<'a> {
    key: &'a str,
    line: u32,
}

/// Entries up to the `]` that closes `open` (or the end of the text at top level).
fn entries<'a>(
    lexer: &mut Lexer<'a>,
    open: Option<OpenList<'a>>,
    depth: u32,
) -> Result<Vec<Entry<'a>>, GmlError> {
    let mut out = Vec::new();
    loop {
        let Some(Token { kind, pos: key_pos }) = lexer.next_token()? else {
            return match open {
                None => Ok(out),
                Some(list) => Err(lexer.pos().error(GmlErrorKind::UnclosedList {
                    key: list.key.to_string(),
                    open_line: list.line,
                })),
            };
        };
        let key = match kind {
            TokenKind::Key(key) => key,
            TokenKind::Close if open.is_some() => return Ok(out),
            TokenKind::Close => {
                return Err(key_pos.error(GmlErrorKind::UnexpectedToken {
                    expected: "a key or the end of the file",
                    found: "`]` with no open `[` to close".to_string(),
                }));
            }
            other => {
                return Err(key_pos.error(GmlErrorKind::UnexpectedToken {
                    expected: "a key (a name such as `node` or `id`)",
                    found: other.describe(),
                }));
            }
        };
        let Some(Token {
            kind,
            pos: value_pos,
        }) = lexer.next_token()?
        else {
            return Err(lexer
                .pos()
                .error(GmlErrorKind::MissingValue(key.to_string())));
        };
        let value = match kind {
            TokenKind::Int(n) => Value::Int(n),
            TokenKind::Float(n) => Value::Float(n),
            TokenKind::Str(s) => Value::Str(s),
            TokenKind::Open => {
                if depth >= MAX_DEPTH {
                    return Err(value_pos.error(GmlErrorKind::TooDeep(MAX_DEPTH)));
                }
                let inner = OpenList {
                    key,
                    line: value_pos.line,
                };
                Value::List(entries(lexer, Some(inner), depth + 1)?)
            }
            other @ (TokenKind::Key(_) | TokenKind::Close) => {
                return Err(value_pos.error(GmlErrorKind::UnexpectedToken {
                    expected: "a value (a number, a \"string\" or a [ list ])",
                    found: format!("{} after `{key}`", other.describe()),
                }));
            }
        };
        out.push(Entry {
            key,
            key_pos,
            value,
            value_pos,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_nested_entries() {
        let entries = parse("graph [ node [ id 0 ] label \"x\" ]").expect("valid");
        assert_eq!(entries.len(), 1);
        let Value::List(graph) = &entries[0].value else {
            panic!("graph is a list");
        };
        assert_eq!(graph[0].key, "node");
        assert_eq!(
            graph[0].value_pos,
            Pos {
                line: 1,
                column: 14
            }
        );
        assert_eq!(graph[1].value, Value::Str("x"));
    }

    #[test]
    fn reports_the_unclosed_list_and_where_it_opened() {
        let e = parse("graph [\n node [ id 0 ]\n edge [").expect_err("truncated");
        assert_eq!(
            e.kind,
            GmlErrorKind::UnclosedList {
                key: "edge".to_string(),
                open_line: 3
            }
        );
        assert_eq!((e.line, e.column), (3, 8));
    }
}
