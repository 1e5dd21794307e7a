//! Message templates for outbound notifications: a text with `{variable}` holes and
//! optional buttons, per name and language, checked when loaded and filled per send.
//!
//! A template is checked whole at load (holes well formed, names valid, no duplicate
//! name and language), so a typo in a template fails the reload that brought it, not a
//! campaign at 3 a.m. Filling it is strict the other way: a variable the template uses
//! and the send does not give is an error naming it, never an empty hole shown to a
//! customer. `{{` and `}}` write a literal brace.

use std::collections::HashMap;

use crate::routing::Button;

/// Longest template text, in bytes (what channels carry comfortably).
pub const MAX_TEMPLATE_BYTES: usize = 4 * 1024;
/// Most buttons on one template.
pub const MAX_TEMPLATE_BUTTONS: usize = 10;
/// Longest variable name, in bytes.
const MAX_VARIABLE_NAME_BYTES: usize = 64;

/// A template as written in the configuration.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSource {
    /// Name the tenant's systems send with a notification ("order-shipped").
    pub name: String,
    /// Language tag ("zh", "en"); a customer's "zh-CN" uses "zh".
    pub language: String,
    /// The text, with `{variable}` holes.
    pub text: String,
    /// Quick-reply buttons; labels may have holes too.
    #[serde(default)]
    pub buttons: Vec<ButtonSource>,
}

/// A button as written in the configuration.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ButtonSource {
    /// Shown to the customer.
    pub label: String,
    /// Sent back when pressed.
    pub payload: String,
}

/// Why templates cannot be loaded; each names the template and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A template is malformed.
    #[error("template {name:?} ({language}): {reason}")]
    Invalid {
        /// The template's name.
        name: String,
        /// Its language.
        language: String,
        /// What is wrong.
        reason: String,
    },
    /// Two templates share a name and language.
    #[error("template {name:?} ({language}) is defined twice")]
    Duplicate {
        /// The template's name.
        name: String,
        /// Its language.
        language: String,
    },
}

/// Why a template could not be filled for one send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// No template has the name.
    #[error("no template named {0:?}")]
    Unknown(String),
    /// The template uses a variable the send did not give.
    #[error("variables: {variable:?} is used by template {template:?} but not given")]
    MissingVariable {
        /// The template.
        template: String,
        /// The variable.
        variable: String,
    },
}

/// One piece of a parsed text.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Literal(String),
    Hole(String),
}

/// A text split into literals and holes.
#[derive(Debug, Clone, PartialEq)]
struct Pattern(Vec<Piece>);

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) if c.is_ascii_alphanumeric() || c == '_' => name.push(c),
                            Some(c) => {
                                return Err(format!(
                                    "{c:?} in a variable name (letters, digits and _ only)"
                                ));
                            }
                            None => return Err("a '{' is never closed".to_owned()),
                        }
                    }
                    if name.is_empty() || name.len() > MAX_VARIABLE_NAME_BYTES {
                        return Err(format!(
                            "a variable name must have 1-{MAX_VARIABLE_NAME_BYTES} characters"
                        ));
                    }
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Hole(name));
                }
                '}' => return Err("a '}' closes nothing (write '}}' for a brace)".to_owned()),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Pattern(pieces))
    }

    fn holes(&self) -> impl Iterator<Item = &str> + '_ {
        self.0.iter().filter_map(|p| match p {
            Piece::Hole(name) => Some(name.as_str()),
            Piece::Literal(_) => None,
        })
    }

    fn fill(&self, variables: &HashMap<String, String>) -> Result<String, String> {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Hole(name) => out.push_str(variables.get(name).ok_or_else(|| name.clone())?),
            }
        }
        Ok(out)
    }
}

/// One checked template.
#[derive(Debug, Clone, PartialEq)]
struct Template {
    text: Pattern,
    buttons: Vec<(Pattern, String)>,
}

/// A template filled for one customer.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The language of the template used.
    pub language: String,
    /// The text.
    pub text: String,
    /// The buttons.
    pub buttons: Vec<Button>,
}

/// A tenant's templates, by name and language.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Templates {
    by_name: HashMap<String, Vec<(String, Template)>>,
}

impl Templates {
    /// Checks and indexes `sources`; the first problem found is the error.
    pub fn load(sources: &[TemplateSource]) -> Result<Templates, TemplateError> {
        let mut templates = Templates::default();
        for source in sources {
            let invalid = |reason: String| TemplateError::Invalid {
                name: source.name.clone(),
                language: source.language.clone(),
                reason,
            };
            if source.name.trim().is_empty() || source.language.trim().is_empty() {
                return Err(invalid("name and language are required".to_owned()));
            }
            if source.text.trim().is_empty() || source.text.len() > MAX_TEMPLATE_BYTES {
                return Err(invalid(format!(
                    "text must have 1-{MAX_TEMPLATE_BYTES} bytes"
                )));
            }
            if source.buttons.len() > MAX_TEMPLATE_BUTTONS {
                return Err(invalid(format!("at most {MAX_TEMPLATE_BUTTONS} buttons")));
            }
            let text = Pattern::parse(&source.text).map_err(|e| invalid(format!("text: {e}")))?;
            let mut buttons = Vec::with_capacity(source.buttons.len());
            for (i, b) in source.buttons.iter().enumerate() {
                if b.label.trim().is_empty() || b.payload.trim().is_empty() {
                    return Err(invalid(format!(
                        "buttons[{i}]: label and payload are required"
                    )));
                }
                let label = Pattern::parse(&b.label)
                    .map_err(|e| invalid(format!("buttons[{i}].label: {e}")))?;
                buttons.push((label, b.payload.clone()));
            }
            let language = primary_language(&source.language);
            let entries = templates.by_name.entry(source.name.clone()).or_default();
            if entries.iter().any(|(l, _)| *l == language) {
                return Err(TemplateError::Duplicate {
                    name: source.name.clone(),
                    language,
                });
            }
            entries.push((language, Template { text, buttons }));
        }
        Ok(templates)
    }

    /// Whether a template of this name exists, in any language.
    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// The variables a template uses (all its languages together), sorted.
    pub fn variables(&self, name: &str) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .by_name
            .get(name)
            .into_iter()
            .flatten()
            .flat_map(|(_, t)| {
                t.text
                    .holes()
                    .chain(t.buttons.iter().flat_map(|(label, _)| label.holes()))
            })
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Fills the template `name` in the customer's `language` (its primary subtag),
    /// else in `fallback`, else in the first language it was written in.
    pub fn render(
        &self,
        name: &str,
        language: &str,
        fallback: &str,
        variables: &HashMap<String, String>,
    ) -> Result<Rendered, RenderError> {
        let entries = self
            .by_name
            .get(name)
            .ok_or_else(|| RenderError::Unknown(name.to_owned()))?;
        let wanted = primary_language(language);
        let fallback = primary_language(fallback);
        let (language, template) = entries
            .iter()
            .find(|(l, _)| *l == wanted)
            .or_else(|| entries.iter().find(|(l, _)| *l == fallback))
            .unwrap_or(&entries[0]);
        let missing = |variable: String| RenderError::MissingVariable {
            template: name.to_owned(),
            variable,
        };
        let text = template.text.fill(variables).map_err(missing)?;
        let mut buttons = Vec::with_capacity(template.buttons.len());
        for (label, payload) in &template.buttons {
            buttons.push(Button {
                label: label.fill(variables).map_err(missing)?,
                payload: payload.clone(),
            });
        }
        Ok(Rendered {
            language: language.clone(),
            text,
            buttons,
        })
    }
}

/// A language tag's primary subtag, lower case ("zh-CN" → "zh").
fn primary_language(tag: &str) -> String {
    tag.trim()
        .split(['-', '_'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(name: &str, language: &str, text: &str) -> TemplateSource {
        TemplateSource {
            name: name.to_owned(),
            language: language.to_owned(),
            text: text.to_owned(),
            buttons: Vec::new(),
        }
    }

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn fills_holes_in_the_customers_language_with_literal_braces() {
        let mut shipped = source(
            "shipped",
            "en",
            "Order {order} is on its way {{tracking: {code}}}",
        );
        shipped.buttons.push(ButtonSource {
            label: "Track {order}".to_owned(),
            payload: "track".to_owned(),
        });
        let templates =
            Templates::load(&[shipped, source("shipped", "zh", "您的订单 {order} 已发货")])
                .unwrap();
        let given = vars(&[("order", "A-17"), ("code", "SF123")]);
        let en = templates.render("shipped", "en-GB", "zh", &given).unwrap();
        assert_eq!(en.text, "Order A-17 is on its way {tracking: SF123}");
        assert_eq!(en.buttons[0].label, "Track A-17");
        let zh = templates.render("shipped", "zh-CN", "en", &given).unwrap();
        assert_eq!(zh.text, "您的订单 A-17 已发货");
        let fallback = templates.render("shipped", "fr", "zh", &given).unwrap();
        assert_eq!(fallback.language, "zh");
        assert_eq!(templates.variables("shipped"), ["code", "order"]);
    }

    #[test]
    fn a_missing_variable_is_an_error_naming_it() {
        let templates =
            Templates::load(&[source("shipped", "en", "Order {order} ({code})")]).unwrap();
        let err = templates
            .render("shipped", "en", "en", &vars(&[("order", "A-17")]))
            .unwrap_err();
        assert_eq!(
            err,
            RenderError::MissingVariable {
                template: "shipped".to_owned(),
                variable: "code".to_owned()
            }
        );
        assert!(err.to_string().contains("\"code\""), "{err}");
        assert_eq!(
            templates.render("nope", "en", "en", &HashMap::new()),
            Err(RenderError::Unknown("nope".to_owned()))
        );
    }

    #[test]
    fn malformed_or_duplicate_templates_are_refused_at_load_naming_them() {
        for (text, wants) in [
            ("Order {order", "never closed"),
            ("Order order}", "closes nothing"),
            ("Order {or der}", "variable name"),
            ("Order {}", "1-64"),
            ("   ", "1-4096 bytes"),
        ] {
            let err = Templates::load(&[source("bad", "en", text)]).unwrap_err();
            assert!(err.to_string().contains(wants), "{text:?}: {err}");
            assert!(err.to_string().contains("\"bad\""), "{err}");
        }
        let err =
            Templates::load(&[source("t", "zh-CN", "a"), source("t", "zh", "b")]).unwrap_err();
        assert_eq!(
            err,
            TemplateError::Duplicate {
                name: "t".to_owned(),
                language: "zh".to_owned()
            }
        );
    }
}
