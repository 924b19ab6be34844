//! The server side of [`AppError`]: its response (status + `{"error": message}`), the status a
//! server function answers with, and the one mapping of each domain error into it.
use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};

use super::{
    annotate::AnnotError,
    auth::AccountError,
    studies::{
        assign::AssignError, demographics::DemographicsError, design::DesignError,
        store::StudyError, writer::AnswerError,
    },
};
pub use crate::error::AppError;

impl AppError {
    /// Logs the real cause; the user sees only "internal server error".
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {cause}");
        AppError::Internal
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// Sets the status of the current request's response (a server function's, or a page's
    /// rendered with `SsrMode::Async`) to this error's.
    pub fn set_response_status(&self) {
        if let Some(res) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            res.set_status(self.status());
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (
            self.status(),
            Json(serde_json::json!({ "error": self.message() })),
        )
            .into_response()
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::internal(format_args!("database: {e}"))
    }
}

impl From<AccountError> for AppError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Db(e) => e.into(),
            e => AppError::Invalid(e.to_string()),
        }
    }
}

impl From<AnnotError> for AppError {
    fn from(e: AnnotError) -> Self {
        match e {
            AnnotError::BadInput(m) => AppError::Invalid(m),
            AnnotError::Forbidden(m) => AppError::Forbidden(m),
            e @ AnnotError::NotFound(_) => AppError::NotFound(e.to_string()),
            AnnotError::Conflict(m) => AppError::Conflict(m),
            AnnotError::Db(e) => e.into(),
        }
    }
}

impl From<DesignError> for AppError {
    fn from(e: DesignError) -> Self {
        AppError::Invalid(e.to_string())
    }
}

impl From<AssignError> for AppError {
    fn from(e: AssignError) -> Self {
        AppError::Invalid(e.to_string())
    }
}

impl From<StudyError> for AppError {
    fn from(e: StudyError) -> Self {
        match e {
            StudyError::NotFound | StudyError::UnknownParticipant | StudyError::NoGeneration(_) => {
                AppError::NotFound(e.to_string())
            }
            StudyError::Frozen(_)
            | StudyError::BadTransition(..)
            | StudyError::AlreadyParticipated(_) => AppError::Conflict(e.to_string()),
            StudyError::NotOpen => AppError::Forbidden(e.to_string()),
            StudyError::Design(e) => e.into(),
            StudyError::Assign(e) => e.into(),
            StudyError::Invalid(m) => AppError::Invalid(m),
            StudyError::Db(e) => e.into(),
            StudyError::Internal(m) => AppError::internal(format_args!("studies: {m}")),
        }
    }
}

impl From<DemographicsError> for AppError {
    fn from(e: DemographicsError) -> Self {
        match e {
            DemographicsError::Db(e) => e.into(),
            DemographicsError::NotAsked => AppError::NotFound(e.to_string()),
            DemographicsError::AlreadySubmitted | DemographicsError::Completed => {
                AppError::Conflict(e.to_string())
            }
            e => AppError::Invalid(e.to_string()),
        }
    }
}

/// `Closed` is a 409 the participant's page reads as "the study closed" (see
/// `routes::studies::participant`, which adds `"closed": true` to its JSON).
impl From<AnswerError> for AppError {
    fn from(e: AnswerError) -> Self {
        match e {
            AnswerError::NotAssigned => AppError::Forbidden(e.to_string()),
            AnswerError::AlreadyAnswered | AnswerError::Closed => AppError::Conflict(e.to_string()),
            AnswerError::Internal => AppError::internal("studies: the answer writer failed"),
            e => AppError::Invalid(e.to_string()),
        }
    }
}
