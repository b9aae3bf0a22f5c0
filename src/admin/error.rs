//! Errors as Kafka Connect's REST API gives them: a status code and `{"error_code": N, "message": "..."}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::worker::handle::WorkerGone;
use crate::worker::WorkerError;

/// A request that failed, with the status it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestError {
    pub status: StatusCode,
    pub message: String,
}

impl RestError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<WorkerError> for RestError {
    fn from(error: WorkerError) -> Self {
        let status = match &error {
            WorkerError::UnknownConnector(_) | WorkerError::UnknownTask(..) => {
                StatusCode::NOT_FOUND
            }
            WorkerError::AlreadyExists(_) => StatusCode::CONFLICT,
            WorkerError::InvalidConfig(_) | WorkerError::BadRequest(_) => StatusCode::BAD_REQUEST,
            // Only when the owner could not be reached on the leader's behalf.
            WorkerError::RunsElsewhere { .. } => StatusCode::CONFLICT,
            WorkerError::Store(_) | WorkerError::Kafka(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, error.to_string())
    }
}

impl From<WorkerGone> for RestError {
    fn from(error: WorkerGone) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let body = json!({"error_code": self.status.as_u16(), "message": self.message});
        (self.status, Json(body)).into_response()
    }
}
