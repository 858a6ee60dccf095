//! Templates: strings with the placeholders `{to}`, `{text}`, `{id}` and
//! `{dlr_url}`; `{{` and `}}` stand for literal braces. Parsed once at start
//! (an unknown placeholder is a configuration error), rendered per message.

use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// The recipient, as the gateway's `number_format` asks.
    To,
    /// The SMS text.
    Text,
    /// The outbox id.
    Id,
    /// The delivery-report URL of this message (needs `dlr_secret`).
    DlrUrl,
}

impl Var {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "to" => Some(Var::To),
            "text" => Some(Var::Text),
            "id" => Some(Var::Id),
            "dlr_url" => Some(Var::DlrUrl),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Var(Var),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// What the placeholders stand for, for one message.
#[derive(Debug, Clone, Copy)]
pub struct Values<'a> {
    pub to: &'a str,
    pub text: &'a str,
    pub id: &'a str,
    pub dlr_url: &'a str,
}

impl Template {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    lit.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    if !closed {
                        return Err(format!("unclosed '{{' in {s:?} (write {{{{ for a brace)"));
                    }
                    let var = Var::parse(&name).ok_or_else(|| {
                        format!(
                            "unknown placeholder {{{name}}} in {s:?}; known: {{to}}, {{text}}, {{id}}, {{dlr_url}}"
                        )
                    })?;
                    if !lit.is_empty() {
                        pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                    }
                    pieces.push(Piece::Var(var));
                }
                '}' => return Err(format!("lone '}}' in {s:?} (write }}}} for a brace)")),
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit));
        }
        Ok(Self { pieces })
    }

    pub fn uses(&self, var: Var) -> bool {
        self.pieces.contains(&Piece::Var(var))
    }

    /// Renders with each value passed through `encode` (literals as written).
    pub fn render_with(
        &self,
        v: &Values<'_>,
        encode: impl for<'s> Fn(&'s str) -> Cow<'s, str>,
    ) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Var(var) => {
                    let value = match var {
                        Var::To => v.to,
                        Var::Text => v.text,
                        Var::Id => v.id,
                        Var::DlrUrl => v.dlr_url,
                    };
                    out.push_str(&encode(value));
                }
            }
        }
        out
    }

    /// Renders with the values as they are (the query, form or JSON encoder
    /// escapes the result as a whole).
    pub fn render(&self, v: &Values<'_>) -> String {
        self.render_with(v, |s| Cow::Borrowed(s))
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for
/// values put into a URL template (a path segment or a query value).
pub fn percent_encode(s: &str) -> Cow<'_, str> {
    let keep = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
    if s.bytes().all(keep) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Cow::Owned(out)
}

/// A JSON body template: the strings in it are templates, the rest is kept.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonTemplate {
    Str(Template),
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
    Other(serde_json::Value),
}

impl JsonTemplate {
    pub fn from_toml(v: &toml::Value) -> Result<Self, String> {
        Ok(match v {
            toml::Value::String(s) => JsonTemplate::Str(Template::parse(s)?),
            toml::Value::Integer(i) => JsonTemplate::Other((*i).into()),
            toml::Value::Float(f) => JsonTemplate::Other(
                serde_json::Number::from_f64(*f)
                    .map(serde_json::Value::Number)
                    .ok_or_else(|| format!("{f} cannot be written in JSON"))?,
            ),
            toml::Value::Boolean(b) => JsonTemplate::Other((*b).into()),
            toml::Value::Datetime(d) => JsonTemplate::Other(d.to_string().into()),
            toml::Value::Array(a) => JsonTemplate::Array(
                a.iter()
                    .map(JsonTemplate::from_toml)
                    .collect::<Result<_, _>>()?,
            ),
            toml::Value::Table(t) => JsonTemplate::Object(
                t.iter()
                    .map(|(k, v)| Ok((k.clone(), JsonTemplate::from_toml(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
        })
    }

    pub fn uses(&self, var: Var) -> bool {
        match self {
            JsonTemplate::Str(t) => t.uses(var),
            JsonTemplate::Array(a) => a.iter().any(|t| t.uses(var)),
            JsonTemplate::Object(o) => o.iter().any(|(_, t)| t.uses(var)),
            JsonTemplate::Other(_) => false,
        }
    }

    pub fn render(&self, v: &Values<'_>) -> serde_json::Value {
        match self {
            JsonTemplate::Str(t) => serde_json::Value::String(t.render(v)),
            JsonTemplate::Array(a) => a.iter().map(|t| t.render(v)).collect(),
            JsonTemplate::Object(o) => {
                serde_json::Value::Object(o.iter().map(|(k, t)| (k.clone(), t.render(v))).collect())
            }
            JsonTemplate::Other(x) => x.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: Values<'static> = Values {
        to: "+41791234567",
        text: "Grüezi & 5 € + {x}",
        id: "42",
        dlr_url: "http://fs/v2/sms/dlr/g/42?secret=s",
    };

    #[test]
    fn placeholders_braces_and_errors() {
        let t = Template::parse("a{to}b{{c}}{text}{id}").unwrap();
        assert!(t.uses(Var::To) && t.uses(Var::Text) && t.uses(Var::Id));
        assert!(!t.uses(Var::DlrUrl));
        assert_eq!(
            t.render(&V),
            "a+41791234567b{c}Grüezi & 5 € + {x}42",
            "values are not themselves templates"
        );
        assert!(Template::parse("{tel}")
            .unwrap_err()
            .contains("unknown placeholder {tel}"));
        assert!(Template::parse("{to").is_err());
        assert!(Template::parse("a}b").is_err());
        assert_eq!(Template::parse("").unwrap().render(&V), "");
    }

    #[test]
    fn url_values_are_percent_encoded_as_utf8() {
        let t = Template::parse("https://gw/send/{to}/{text}").unwrap();
        assert_eq!(
            t.render_with(&V, percent_encode),
            "https://gw/send/%2B41791234567/Gr%C3%BCezi%20%26%205%20%E2%82%AC%20%2B%20%7Bx%7D"
        );
        assert_eq!(percent_encode("Az09-._~"), "Az09-._~");
        assert_eq!(percent_encode("Ж😀"), "%D0%96%F0%9F%98%80");
    }

    #[test]
    fn json_templates_keep_types_and_escape_strings() {
        let v: toml::Value = toml::from_str(
            r#"to = "{to}"
               text = "{text}"
               n = 3
               ok = true
               nested = { list = ["{id}", 1.5] }"#,
        )
        .unwrap();
        let t = JsonTemplate::from_toml(&v).unwrap();
        assert!(t.uses(Var::Id) && !t.uses(Var::DlrUrl));
        let j = t.render(&Values {
            text: "say \"hi\"\n😀",
            ..V
        });
        assert_eq!(
            j,
            serde_json::json!({"to": "+41791234567", "text": "say \"hi\"\n😀", "n": 3, "ok": true,
                               "nested": {"list": ["42", 1.5]}})
        );
        let bad: toml::Value = toml::from_str(r#"x = "{nope}""#).unwrap();
        assert!(JsonTemplate::from_toml(&bad).is_err());
    }
}
