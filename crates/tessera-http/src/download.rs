//! How a file the dashboard offers for download leaves Tessera: its type, the name a browser
//! saves it under, and the headers that keep it out of caches and from being sniffed as
//! something else. It chooses no status.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// `text` as a CSV attachment named `file_name` (a fixed ASCII name, no quotes).
pub fn csv(file_name: &'static str, text: String) -> Response {
    let mut res = text.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    // RFC 6266 §4.1: save it, under this name, rather than show it.
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    res
}
