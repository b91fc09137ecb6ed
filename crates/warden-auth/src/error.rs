//! Why a request was not authenticated, and how that is told to the client.

/// Why a credential was refused.
///
/// Every message is safe to show the client: it never repeats the presented
/// secret or token, and backend details (paths, addresses) are kept out of
/// [`Display`](std::fmt::Display) (see [`AuthError::Unavailable`]). The
/// gateway turns these into HTTP answers in one place: 401 with
/// [`AuthError::www_authenticate`], or 503 when
/// [`AuthError::is_unavailable`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("no credentials: send the header `Authorization: Bearer <API key or JWT>`")]
    Missing,

    /// An `Authorization` header that is not `Bearer <token>` (another
    /// scheme, or no token after `Bearer`).
    #[error("the Authorization header must be `Bearer <token>`")]
    NotBearer,

    /// An API key whose id is unknown, or whose secret does not match. The
    /// two are not told apart, so the answer does not confirm that an id
    /// exists.
    #[error("unknown API key")]
    UnknownKey,

    /// An API key that was revoked.
    #[error("this API key has been revoked; ask an operator for a new one")]
    Revoked,

    /// An API key past its expiry, or a JWT past its `exp` (plus leeway).
    #[error("this credential has expired; get a new one")]
    Expired,

    /// A malformed API key, or a JWT that fails verification; the text says
    /// which check failed (`"wrong issuer (iss)"`, `"unknown key id"`, ...).
    #[error("invalid token: {0}")]
    InvalidToken(String),

    /// A JWT was presented to a gateway configured for API keys only.
    #[error("this gateway accepts API keys (wdn_...) only; JWT bearer tokens are not configured")]
    JwtNotConfigured,

    /// The credential could not be checked: the key store or the JWKS
    /// endpoint failed. The request must be refused (fail closed) with 503.
    ///
    /// The string is the cause, for the operator's log; it is not part of
    /// the message (it may name files or hosts).
    #[error("credentials cannot be checked right now; retry later")]
    Unavailable(String),
}

impl AuthError {
    /// `true` when the failure is the gateway's (store or JWKS down), not the
    /// client's: answer 503, never let the request through.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// The `WWW-Authenticate` header value for a 401 answer (RFC 6750
    /// section 3, with RFC 9728's `resource_metadata` parameter pointing at
    /// the protected-resource metadata document).
    ///
    /// `Bearer realm="warden", resource_metadata="<url>"` when no credential
    /// was sent ([`Missing`](Self::Missing), and [`Unavailable`](Self::Unavailable),
    /// which is not the client's error); `error="invalid_request"` for a
    /// header that is not `Bearer`; `error="invalid_token"` otherwise, each
    /// with an `error_description`. Characters RFC 6750 does not allow in a
    /// quoted value (`"`, `\`, control and non-ASCII characters) are replaced.
    pub fn www_authenticate(&self, resource_metadata_url: &str) -> String {
        let error = match self {
            Self::Missing | Self::Unavailable(_) => None,
            Self::NotBearer => Some("invalid_request"),
            Self::UnknownKey
            | Self::Revoked
            | Self::Expired
            | Self::InvalidToken(_)
            | Self::JwtNotConfigured => Some("invalid_token"),
        };
        let mut out = String::from("Bearer realm=\"warden\"");
        if let Some(error) = error {
            out.push_str(", error=\"");
            out.push_str(error);
            out.push_str("\", error_description=\"");
            out.push_str(&quoted_safe(&self.to_string()));
            out.push('"');
        }
        out.push_str(", resource_metadata=\"");
        out.push_str(&quoted_safe(resource_metadata_url));
        out.push('"');
        out
    }
}

/// Keeps the characters RFC 6750 allows in `error_description`
/// (`%x20-21 / %x23-5B / %x5D-7E`), replacing `"` with `'`, `\` with `/` and
/// anything else with `?`, so the header value can never be broken out of.
fn quoted_safe(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: &str = "https://gw.example/.well-known/oauth-protected-resource";

    #[test]
    fn missing_has_no_error_attribute() {
        assert_eq!(
            AuthError::Missing.www_authenticate(META),
            format!("Bearer realm=\"warden\", resource_metadata=\"{META}\"")
        );
    }

    #[test]
    fn invalid_token_says_why() {
        let header = AuthError::Revoked.www_authenticate(META);
        assert!(header.starts_with("Bearer realm=\"warden\", error=\"invalid_token\", "));
        assert!(header.contains("error_description=\"this API key has been revoked"));
        assert!(header.ends_with(&format!("resource_metadata=\"{META}\"")));
        let header = AuthError::NotBearer.www_authenticate(META);
        assert!(header.contains("error=\"invalid_request\""), "{header}");
    }

    #[test]
    fn descriptions_cannot_break_the_header() {
        let err = AuthError::InvalidToken("a \"quoted\" \\ value\r\nX-Evil: 1 é".to_owned());
        let header = err.www_authenticate("https://x/\"y");
        assert!(header.is_ascii());
        assert!(!header.contains('\\') && !header.contains('\r') && !header.contains('\n'));
        // Only the delimiting quotes remain: 2 per attribute, 4 attributes.
        assert_eq!(header.matches('"').count(), 8, "{header}");
    }

    #[test]
    fn unavailable_hides_its_cause() {
        let err = AuthError::Unavailable("state database /srv/secret/warden.db: busy".to_owned());
        assert!(err.is_unavailable());
        assert!(!err.to_string().contains("/srv"));
        assert!(!AuthError::Expired.is_unavailable());
    }
}
