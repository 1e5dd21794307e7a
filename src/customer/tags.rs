//! Tags on a customer profile: short labels the tenant's systems set ("vip",
//! "bought:dishwasher", "beta-tester") so campaigns can pick people by them. Each tag
//! remembers the profile it was set on, so it moves with a merge and back with an
//! unmerge like identifiers and facts do.

use std::sync::Arc;

use super::profiles::ProfileId;

/// Most distinct tags on one person.
pub const MAX_TAGS: usize = 32;

/// Longest tag, in bytes.
pub const MAX_TAG_BYTES: usize = 64;

/// A checked tag: 1-64 bytes of lower-case ASCII letters, digits and `_ - : .`, so
/// tags compare exactly and read the same in a config, a query and a dashboard.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Tag(Arc<str>);

/// Why a tag was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// Empty or longer than [`MAX_TAG_BYTES`].
    #[error("{0:?}: 1-{MAX_TAG_BYTES} bytes")]
    Length(String),
    /// A character outside `a-z 0-9 _ - : .`.
    #[error("{0:?}: only lower-case letters, digits and _ - : .")]
    Character(String),
}

impl Tag {
    /// Checks a tag as written (surrounding spaces are trimmed; nothing else is
    /// changed, so "VIP" is refused rather than quietly made "vip").
    pub fn new(text: &str) -> Result<Tag, TagError> {
        let text = text.trim();
        if text.is_empty() || text.len() > MAX_TAG_BYTES {
            return Err(TagError::Length(text.to_owned()));
        }
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-:.".contains(c);
        if !text.chars().all(allowed) {
            return Err(TagError::Character(text.to_owned()));
        }
        Ok(Tag(Arc::from(text)))
    }

    /// The tag's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The tags on one profile, each with the profile it was set on.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tags {
    set: Vec<(Tag, ProfileId)>,
}

/// Adding would pass [`MAX_TAGS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyTags;

impl Tags {
    /// The distinct tags, in order.
    pub fn names(&self) -> Vec<&Tag> {
        let mut names: Vec<&Tag> = self.set.iter().map(|(t, _)| t).collect();
        names.sort();
        names.dedup();
        names
    }

    /// Whether the person has `tag`.
    pub fn has(&self, tag: &Tag) -> bool {
        self.set.iter().any(|(t, _)| t == tag)
    }

    /// Distinct tags.
    pub fn len(&self) -> usize {
        self.names().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Adds `add` (set on `origin`) and removes `remove` (wherever it came from),
    /// removals first; nothing changes when the result would pass [`MAX_TAGS`].
    pub fn change(
        &mut self,
        origin: ProfileId,
        add: &[Tag],
        remove: &[Tag],
    ) -> Result<(), TooManyTags> {
        let mut next = self.set.clone();
        next.retain(|(t, _)| !remove.contains(t));
        for tag in add {
            if !next.iter().any(|(t, _)| t == tag) {
                next.push((tag.clone(), origin));
            }
        }
        let distinct = Tags { set: next };
        if distinct.len() > MAX_TAGS {
            return Err(TooManyTags);
        }
        *self = distinct;
        Ok(())
    }

    /// Takes in the tags of a profile merged into this one.
    pub fn absorb(&mut self, other: Tags) {
        self.set.extend(other.set);
    }

    /// Splits off the tags set on the profiles `came` picks (an unmerge).
    pub fn split_off(&mut self, came: impl Fn(&ProfileId) -> bool) -> Tags {
        let (back, stay) = std::mem::take(&mut self.set)
            .into_iter()
            .partition(|(_, origin)| came(origin));
        self.set = stay;
        Tags { set: back }
    }

    /// The profiles the tags were set on.
    pub fn origins(&self) -> impl Iterator<Item = ProfileId> + '_ {
        self.set.iter().map(|(_, origin)| *origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(names: &[&str]) -> Vec<Tag> {
        names.iter().map(|n| Tag::new(n).unwrap()).collect()
    }

    #[test]
    fn tags_are_short_lower_case_labels() {
        assert_eq!(Tag::new(" vip ").unwrap().as_str(), "vip");
        assert!(Tag::new("bought:dish-washer_2.0").is_ok());
        assert!(matches!(Tag::new("VIP"), Err(TagError::Character(_))));
        assert!(matches!(
            Tag::new("big spender"),
            Err(TagError::Character(_))
        ));
        assert!(matches!(Tag::new("会员"), Err(TagError::Character(_))));
        assert!(matches!(Tag::new(""), Err(TagError::Length(_))));
        assert!(matches!(
            Tag::new(&"a".repeat(65)),
            Err(TagError::Length(_))
        ));
    }

    #[test]
    fn a_change_removes_then_adds_and_stops_at_the_limit() {
        let mut t = Tags::default();
        t.change(ProfileId(1), &tags(&["vip", "beta"]), &[])
            .unwrap();
        t.change(ProfileId(1), &tags(&["vip", "churned"]), &tags(&["beta"]))
            .unwrap();
        let names: Vec<&str> = t.names().iter().map(|t| t.as_str()).collect();
        assert_eq!(names, ["churned", "vip"]);
        let many: Vec<Tag> = (0..MAX_TAGS)
            .map(|i| Tag::new(&format!("t{i}")).unwrap())
            .collect();
        assert_eq!(t.change(ProfileId(1), &many, &[]), Err(TooManyTags));
        assert_eq!(t.len(), 2, "unchanged after a refusal");
    }

    #[test]
    fn merged_tags_go_back_with_an_unmerge() {
        let mut kept = Tags::default();
        kept.change(ProfileId(1), &tags(&["vip"]), &[]).unwrap();
        let mut other = Tags::default();
        other
            .change(ProfileId(2), &tags(&["vip", "beta"]), &[])
            .unwrap();
        kept.absorb(other);
        assert_eq!(kept.len(), 2);
        assert!(kept.has(&Tag::new("beta").unwrap()));
        let back = kept.split_off(|o| *o == ProfileId(2));
        assert_eq!(kept.len(), 1);
        assert_eq!(back.len(), 2);
    }
}
