//! The status words of the service this operator replaces (uploaded, processing,
//! success, error), which the REST shim shows and filters by: the one mapping between
//! them and the resource's [`Phase`].

use serde::{Deserialize, Serialize};

use crate::crd::Phase;

/// A thumbnail's status, in the words of the service the REST API replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum StatusWord {
    Uploaded,
    Processing,
    Success,
    Error,
}

impl StatusWord {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusWord::Uploaded => "uploaded",
            StatusWord::Processing => "processing",
            StatusWord::Success => "success",
            StatusWord::Error => "error",
        }
    }

    /// The word as a user writes it, e.g. in `?status=`.
    pub fn parse(s: &str) -> Option<StatusWord> {
        Phase::ALL
            .into_iter()
            .map(StatusWord::from)
            .find(|w| w.as_str() == s)
    }
}

impl From<Phase> for StatusWord {
    fn from(phase: Phase) -> StatusWord {
        match phase {
            Phase::Pending => StatusWord::Uploaded,
            Phase::Processing => StatusWord::Processing,
            Phase::Succeeded => StatusWord::Success,
            Phase::Failed => StatusWord::Error,
        }
    }
}

impl From<StatusWord> for Phase {
    fn from(word: StatusWord) -> Phase {
        match word {
            StatusWord::Uploaded => Phase::Pending,
            StatusWord::Processing => Phase::Processing,
            StatusWord::Success => Phase::Succeeded,
            StatusWord::Error => Phase::Failed,
        }
    }
}

impl std::fmt::Display for StatusWord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Phase {
    /// This phase in the status words of the REST API.
    pub fn status_word(self) -> StatusWord {
        self.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_words_round_trip_and_serialize_as_written() {
        for p in Phase::ALL {
            let w = p.status_word();
            assert_eq!(Phase::from(w), p);
            assert_eq!(StatusWord::parse(w.as_str()), Some(w));
            assert_eq!(serde_json::to_value(w).unwrap(), w.as_str());
        }
        let words: Vec<_> = Phase::ALL.map(|p| p.status_word().as_str()).into();
        assert_eq!(words, ["uploaded", "processing", "success", "error"]);
        assert_eq!(StatusWord::parse("Succeeded"), None);
    }
}
