//! GML text to tokens: keys, numbers, quoted strings, `[` and `]`, with
//! `#` comments skipped and every token's 1-based line and column kept.

use super::{GmlError, GmlErrorKind};

/// A place in the text: 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl Pos {
    /// An error of `kind` at this place.
    pub fn error(self, kind: GmlErrorKind) -> GmlError {
        GmlError::new(self.line, self.column, kind)
    }
}

/// What a token is; text is borrowed from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TokenKind<'a> {
    /// A key such as `node` or `host_bandwidth_up`.
    Key(&'a str),
    /// A whole number, as written (may carry a sign).
    Int(&'a str),
    /// A number with a fraction or exponent, as written.
    Float(&'a str),
    /// The text between two `"`.
    Str(&'a str),
    /// `[`
    Open,
    /// `]`
    Close,
}

impl TokenKind<'_> {
    /// How the token reads in a message: "the key `id`", "`]`".
    pub fn describe(self) -> String {
        match self {
            TokenKind::Key(key) => format!("the key `{key}`"),
            TokenKind::Int(n) | TokenKind::Float(n) => format!("the number {n}"),
            TokenKind::Str(s) => format!("the string \"{s}\""),
            TokenKind::Open => "`[`".to_string(),
            TokenKind::Close => "`]`".to_string(),
        }
    }
}

/// A token and where it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Token<'a> {
    /// What it is.
    pub kind: TokenKind<'a>,
    /// Where it starts.
    pub pos: Pos,
}

/// Splits GML text into tokens, one [`Lexer::next_token`] call at a time.
pub(super) struct Lexer<'a> {
    text: &'a str,
    /// Byte offset of the next unread character.
    offset: usize,
    /// Position of the next unread character.
    pos: Pos,
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `text`.
    pub fn new(text: &'a str) -> Self {
        Lexer {
            text,
            offset: 0,
            pos: Pos { line: 1, column: 1 },
        }
    }

    /// Where the next unread character is (the end of the text once all is read).
    pub fn pos(&self) -> Pos {
        self.pos
    }

    /// The next token, `None` at the end of the text.
    pub fn next_token(&mut self) -> Result<Option<Token<'a>>, GmlError> {
        self.skip_blanks();
        let pos = self.pos;
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        let kind = match c {
            '[' => {
                self.bump();
                TokenKind::Open
            }
            ']' => {
                self.bump();
                TokenKind::Close
            }
            '"' => self.string(pos)?,
            c if c.is_ascii_alphabetic() || c == '_' => {
                let text = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
                TokenKind::Key(text)
            }
            c if c.is_ascii_digit() || matches!(c, '-' | '+' | '.') => self.number(pos)?,
            other => return Err(pos.error(GmlErrorKind::UnexpectedChar(other))),
        };
        Ok(Some(Token { kind, pos }))
    }

    fn peek(&self) -> Option<char> {
        self.text[self.offset..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.offset += c.len_utf8();
        if c == '\n' {
            self.pos.line = self.pos.line.saturating_add(1);
            self.pos.column = 1;
        } else {
            self.pos.column = self.pos.column.saturating_add(1);
        }
        Some(c)
    }

    /// Consumes characters while `keep` holds; returns them.
    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let start = self.offset;
        while self.peek().is_some_and(&keep) {
            self.bump();
        }
        &self.text[start..self.offset]
    }

    /// Skips whitespace and `#` comments.
    fn skip_blanks(&mut self) {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('#') => {
                    self.take_while(|c| c != '\n');
                }
                _ => return,
            }
        }
    }

    /// A `"..."` string; strings may span lines and have no escapes.
    fn string(&mut self, start: Pos) -> Result<TokenKind<'a>, GmlError> {
        self.bump(); // the opening quote
        let text = self.take_while(|c| c != '"');
        if self.bump().is_none() {
            return Err(start.error(GmlErrorKind::UnclosedString));
        }
        Ok(TokenKind::Str(text))
    }

    /// `[+-]digits[.digits][(e|E)[+-]digits]`, not run into letters.
    fn number(&mut self, start: Pos) -> Result<TokenKind<'a>, GmlError> {
        let begin = self.offset;
        if matches!(self.peek(), Some('-' | '+')) {
            self.bump();
        }
        let whole = self.take_while(|c| c.is_ascii_digit());
        let mut float = false;
        let mut digits = !whole.is_empty();
        if self.peek() == Some('.') {
            self.bump();
            float = true;
            digits |= !self.take_while(|c| c.is_ascii_digit()).is_empty();
        }
        if digits && matches!(self.peek(), Some('e' | 'E')) {
            let rest = &self.text[self.offset + 1..];
            let exponent = rest.strip_prefix(['+', '-']).unwrap_or(rest);
            if exponent.starts_with(|c: char| c.is_ascii_digit()) {
                float = true;
                self.bump();
                if matches!(self.peek(), Some('-' | '+')) {
                    self.bump();
                }
                self.take_while(|c| c.is_ascii_digit());
            }
        }
        // Anything glued on (`50ms`, `1.2.3`, `-`) makes this no number.
        self.take_while(|c| !(c.is_whitespace() || matches!(c, '[' | ']' | '"' | '#')));
        let text = &self.text[begin..self.offset];
        let well_formed = digits && {
            let sign = usize::from(text.starts_with(['-', '+']));
            text[sign..]
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
                && text[sign..].chars().filter(|&c| c == '.').count() <= 1
                && text.parse::<f64>().is_ok()
        };
        if !well_formed {
            return Err(start.error(GmlErrorKind::BadNumber(text.to_string())));
        }
        Ok(if float {
            TokenKind::Float(text)
        } else {
            TokenKind::Int(text)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<TokenKind<'_>> {
        let mut lexer = Lexer::new(text);
        let mut out = Vec::new();
        while let Some(token) = lexer.next_token().expect("valid tokens") {
            out.push(token.kind);
        }
        out
    }

    #[test]
    fn splits_keys_numbers_strings_and_brackets() {
        assert_eq!(
            kinds("graph [ id -3 w 1.5e-2 x +.5 s \"a b\"] # c [\n]"),
            vec![
                TokenKind::Key("graph"),
                TokenKind::Open,
                TokenKind::Key("id"),
                TokenKind::Int("-3"),
                TokenKind::Key("w"),
                TokenKind::Float("1.5e-2"),
                TokenKind::Key("x"),
                TokenKind::Float("+.5"),
                TokenKind::Key("s"),
                TokenKind::Str("a b"),
                TokenKind::Close,
                TokenKind::Close,
            ]
        );
    }

    #[test]
    fn tracks_lines_and_columns() {
        let mut lexer = Lexer::new("a\n  \"x\ny\" b");
        let a = lexer.next_token().expect("ok").expect("token");
        assert_eq!(a.pos, Pos { line: 1, column: 1 });
        let s = lexer.next_token().expect("ok").expect("token");
        assert_eq!(
            (s.kind, s.pos),
            (TokenKind::Str("x\ny"), Pos { line: 2, column: 3 })
        );
        let b = lexer.next_token().expect("ok").expect("token");
        assert_eq!(b.pos, Pos { line: 3, column: 4 });
    }

    #[test]
    fn rejects_malformed_numbers() {
        for text in ["50ms", "1.2.3", "-", "+", ".", "1e", "--1", "1-2", "1e5x"] {
            let mut lexer = Lexer::new(text);
            let e = lexer.next_token().expect_err(text);
            assert_eq!(e.kind, GmlErrorKind::BadNumber(text.to_string()), "{text}");
        }
    }
}
