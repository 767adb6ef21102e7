//! A tenant's identity provider for the sign-in page (`[oidc]` in the tenant file).

use serde::Deserialize;

/// OpenID Connect settings of a tenant: who signs people in on `/setup/<tenant>/`.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer URL; its `/.well-known/openid-configuration` names every endpoint.
    pub issuer: String,
    /// The client id registered at the provider.
    pub client_id: String,
    /// The client secret (usually `client_secret_file` or `${ENV}`).
    pub client_secret: String,
    /// The gateway's URL as browsers and phones reach it, e.g. `https://dav.example.com`
    /// (the redirect URI is `<public_url>/setup/<tenant>/callback`; an `https` URL makes the
    /// page's cookies `Secure`).
    pub public_url: String,
    /// The ID token claim holding the person's email (default `email`).
    #[serde(default = "default_email_claim")]
    pub email_claim: String,
    /// How long a signed-in session lasts, seconds (default 900: fifteen minutes).
    #[serde(default = "default_session_secs")]
    pub session_secs: u64,
    /// Email domains allowed to sign in (any when empty).
    #[serde(default)]
    pub allowed_domains: Vec<String>,
}

fn default_email_claim() -> String {
    "email".into()
}

fn default_session_secs() -> u64 {
    900
}

impl std::fmt::Debug for OidcConfig {
    // The client secret never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("public_url", &self.public_url)
            .field("email_claim", &self.email_claim)
            .field("allowed_domains", &self.allowed_domains)
            .finish_non_exhaustive()
    }
}

impl OidcConfig {
    /// Check the URLs: absolute http(s), no query or fragment; `public_url` loses a trailing
    /// slash.
    pub fn validate(&mut self) -> Result<(), String> {
        for (key, url) in [("issuer", &self.issuer), ("public_url", &self.public_url)] {
            let ok = (url.starts_with("https://") || url.starts_with("http://"))
                && !url.contains(['?', '#', ' ']);
            if !ok {
                return Err(format!("oidc.{key}: expected an http(s) URL, got {url:?}"));
            }
        }
        while self.public_url.ends_with('/') {
            self.public_url.pop();
        }
        if !(1..=86_400).contains(&self.session_secs) {
            return Err("oidc.session_secs: between 1 and 86400".into());
        }
        if self.client_id.is_empty() || self.client_secret.is_empty() {
            return Err("oidc: client_id and client_secret must not be empty".into());
        }
        for d in &mut self.allowed_domains {
            *d = d.trim_start_matches('@').to_ascii_lowercase();
        }
        Ok(())
    }

    /// Whether an email's domain may sign in.
    pub fn domain_allowed(&self, email: &str) -> bool {
        let domain = email.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
        self.allowed_domains.is_empty() || domain.is_some_and(|d| self.allowed_domains.contains(&d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &str) -> Result<OidcConfig, String> {
        let text = format!(
            "issuer = \"https://idp.example.com\"\nclient_id = \"c\"\nclient_secret = \"s3cret\"\npublic_url = \"https://dav.example.com/\"\n{extra}"
        );
        let mut o: OidcConfig = toml::from_str(&text).map_err(|e| e.to_string())?;
        o.validate()?;
        Ok(o)
    }

    #[test]
    fn defaults_validation_and_domains() {
        let o = parse("allowed_domains = [\"@Example.com\"]").unwrap();
        assert_eq!(o.public_url, "https://dav.example.com");
        assert_eq!((o.email_claim.as_str(), o.session_secs), ("email", 900));
        assert!(o.domain_allowed("a@EXAMPLE.com") && !o.domain_allowed("a@evil.com"));
        assert!(!o.domain_allowed("no-at-sign"));
        assert!(
            !format!("{o:?}").contains("s3cret"),
            "the secret is not in Debug"
        );
        assert!(parse("session_secs = 0").is_err());
        assert!(parse("typo = 1").is_err());
        let bad = "issuer = \"ftp://x\"\nclient_id = \"c\"\nclient_secret = \"s\"\npublic_url = \"https://d\"";
        let mut o: OidcConfig = toml::from_str(bad).unwrap();
        assert!(o.validate().unwrap_err().contains("oidc.issuer"));
    }
}
