//! What the bot learns from, as the router keeps it: customers' verdicts on its
//! answers, the questions it could not answer, and the lessons operators gave it.

use super::*;
use crate::routing::answer_ratings::AnswerRatings;
use crate::routing::taught::{Lesson, LessonError, Taught};
use crate::routing::unanswered::UnansweredGroup;

impl Router {
    /// Customers' verdicts on bot answers, per intent.
    pub fn answer_ratings(&self) -> &AnswerRatings {
        &self.answer_ratings
    }

    /// The questions the bot could not answer, in groups of similar wording, largest
    /// first; at most `limit` groups.
    pub fn unanswered_groups(&self, limit: usize) -> Vec<UnansweredGroup> {
        self.unanswered.groups(limit)
    }

    /// The questions the bot could not answer, newest last.
    pub fn unanswered(&self) -> &UnansweredLog {
        &self.unanswered
    }

    /// Everything operators taught the bot.
    pub fn taught(&self) -> &Taught {
        &self.taught
    }

    /// Takes a lesson (`entry_exists`: whether the bot's knowledge-base file has the
    /// entry, as the caller found it); the unanswered questions it teaches are
    /// forgotten. Returns the questions that were new.
    pub fn teach(&mut self, lesson: Lesson, entry_exists: bool) -> Result<usize, RoutingError> {
        self.taught
            .check(&lesson, entry_exists)
            .map_err(|e| match e {
                LessonError::Invalid { field, reason } => {
                    RoutingError::InvalidArgument { field, reason }
                }
                LessonError::Full(reason) => RoutingError::Exhausted(reason),
            })?;
        self.unanswered.forget(&lesson.questions);
        Ok(self.taught.learn(lesson))
    }
}
