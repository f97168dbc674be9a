//! Login, logout and session state.

use axum::extract::State;
use axum::http::{header, Extensions, HeaderMap};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiResult, AppError};
use crate::guard::peer_ip;
use crate::state::AppState;

/// Login body.
#[derive(Deserialize)]
pub struct LoginBody {
    password: String,
}

/// Who is logged in, and whether reads are open.
pub async fn session(State(st): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    Json(
        json!({ "loggedIn": st.auth.is_logged_in(&headers), "readsOpen": st.auth.reads_open(), "user": st.auth.is_logged_in(&headers).then_some("admin") }),
    )
}

/// Check the password and set the session cookie (the token is also returned for scripts).
pub async fn login(
    State(st): State<AppState>,
    ext: Extensions,
    Json(body): Json<LoginBody>,
) -> ApiResult<impl IntoResponse> {
    // A locked-out address is refused before the (slow) password check.
    let ip = peer_ip(&ext);
    if let Err(wait) = st.login_limiter.check(ip) {
        return Err(AppError::LockedOut(wait.as_secs().max(1)));
    }
    let auth = st.auth.clone();
    // PBKDF2 is deliberately slow: keep it off the async workers.
    let token =
        tokio::task::spawn_blocking(move || auth.login(&body.password)).await.ok().flatten();
    match token {
        Some(t) => {
            st.login_limiter.succeeded(ip);
            tracing::info!(target: "audit", peer = %ip, user = "admin", "console login");
            let cookie = st.session_cookie(&t, st.auth.ttl().as_secs());
            Ok((
                [(header::SET_COOKIE, cookie)],
                Json(json!({"loggedIn": true, "user": "admin", "token": t})),
            ))
        }
        None => {
            st.metrics.failed_login();
            if st.login_limiter.failed(ip) {
                tracing::warn!(target: "audit", peer = %ip, "console login locked out after repeated failures");
            } else {
                tracing::warn!(target: "audit", peer = %ip, "failed console login");
            }
            Err(AppError::BadLogin)
        }
    }
}

/// Log out: revoke the session server-side (the token stops working everywhere, not only
/// in this browser) and clear the cookie.
pub async fn logout(State(st): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    if let Some(t) = crate::auth::token_from(&headers) {
        if st.auth.revoke(&t) {
            tracing::info!("console session logged out (revoked)");
        }
    }
    ([(header::SET_COOKIE, st.session_cookie("", 0))], Json(json!({"loggedIn": false})))
}
