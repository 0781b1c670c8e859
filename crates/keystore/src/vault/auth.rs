//! Vault login and token upkeep: AppRole (`role_id` + `secret_id`) or Kubernetes
//! (`role` + service-account JWT, re-read from its file at every login), renewal at 80 %
//! of the lease, re-login when renewal fails or a token stops working, and a back-off
//! after a login found Vault unreachable.
//!
//! Vault's own error texts are passed on, with the credential that was sent cut out in
//! case a server ever echoes it.

use std::time::{Duration, Instant};

use hyper::Method;
use zeroize::Zeroizing;

use super::client::Response;
use super::{health, Jwt, Login, VaultKeyStore};
use crate::{Error, Result};

pub(super) struct Token {
    value: Zeroizing<String>,
    /// When to renew; `None` = never (no lease).
    renew_at: Option<Instant>,
    /// When the token stops working; `None` = never.
    expires_at: Option<Instant>,
}

#[derive(Default)]
pub(super) struct Auth {
    token: Option<Token>,
    /// After an unreachable Vault during login: no new attempt before this.
    backoff_until: Option<Instant>,
}

impl Login {
    fn engine(&self) -> &str {
        match self {
            Login::AppRole(a) => &a.engine,
            Login::Kubernetes(k) => &k.engine,
        }
    }

    fn namespace(&self) -> Option<&str> {
        match self {
            Login::AppRole(a) => a.namespace.as_deref(),
            Login::Kubernetes(k) => k.namespace.as_deref(),
        }
    }

    fn retry(&self) -> Duration {
        match self {
            Login::AppRole(a) => a.retry,
            Login::Kubernetes(k) => k.retry,
        }
    }

    /// The login request body and the credential in it (to keep out of messages).
    async fn body(&self) -> Result<(Zeroizing<String>, Zeroizing<String>)> {
        match self {
            Login::AppRole(a) => Ok((
                Zeroizing::new(
                    serde_json::json!({"role_id": a.role_id.as_str(), "secret_id": a.secret_id.as_str()})
                        .to_string(),
                ),
                a.secret_id.clone(),
            )),
            Login::Kubernetes(k) => {
                let jwt = match &k.jwt {
                    Jwt::Token(t) => t.clone(),
                    Jwt::File(p) => {
                        let text = Zeroizing::new(tokio::fs::read_to_string(p).await.map_err(
                            |e| {
                                Error::Backend(format!(
                                    "vault kubernetes jwt file {}: {e}",
                                    p.display()
                                ))
                            },
                        )?);
                        Zeroizing::new(text.trim().to_string())
                    }
                };
                if jwt.is_empty() {
                    return Err(Error::Backend(
                        "vault kubernetes jwt: the service account token is empty".into(),
                    ));
                }
                Ok((
                    Zeroizing::new(
                        serde_json::json!({"role": k.role, "jwt": jwt.as_str()}).to_string(),
                    ),
                    jwt,
                ))
            }
        }
    }

    /// What to check when Vault refuses the login.
    fn hint(&self) -> &'static str {
        match self {
            Login::AppRole(_) => "AppRole login; check approle id and secret",
            Login::Kubernetes(_) => {
                "Kubernetes login; check kubernetes role, and that the service account token (jwt) is current and bound to that role"
            }
        }
    }
}

impl VaultKeyStore {
    async fn login(&self, auth: &mut Auth) -> Result<()> {
        let login = &self.cfg.login;
        if let Some(until) = auth.backoff_until {
            if Instant::now() < until {
                return Err(Error::Unreachable(format!(
                    "vault at {}: login failed recently; retrying after {:?}",
                    self.conn.endpoint(),
                    login.retry()
                )));
            }
        }
        let (body, credential) = login.body().await?;
        let ns = match login.namespace() {
            Some("/") => None,
            Some(n) if !n.is_empty() => Some(n),
            _ => self.namespace(),
        };
        let path = format!("auth/{}/login", login.engine().trim_matches('/'));
        let sent = Instant::now();
        let r = match self
            .conn
            .send_in(
                Method::POST,
                &path,
                None,
                ns,
                Some(body.as_bytes().to_vec()),
            )
            .await
        {
            Ok(r) => r,
            Err(e) => {
                if matches!(e, Error::Unreachable(_)) && !login.retry().is_zero() {
                    auth.backoff_until = Some(Instant::now() + login.retry());
                }
                return Err(e);
            }
        };
        auth.backoff_until = None;
        if r.status != 200 {
            let errors = redact(&r.errors(), &credential);
            return Err(match r.status {
                503 if errors.contains("sealed") => Error::Unreachable(health::SEALED.into()),
                502..=504 => Error::Unreachable(format!("vault {path}: {errors}")),
                _ => Error::Backend(format!(
                    "vault login at {path} failed (HTTP {}): {errors}; {}",
                    r.status,
                    login.hint()
                )),
            });
        }
        auth.token = Some(token_from(&r, sent, &path)?);
        Ok(())
    }

    async fn renew(&self, auth: &mut Auth) -> Result<()> {
        let Some(t) = &auth.token else {
            return self.login(auth).await;
        };
        let sent = Instant::now();
        let r = self
            .conn
            .send(
                Method::POST,
                "auth/token/renew-self",
                Some(&t.value),
                Some(b"{}".to_vec()),
            )
            .await;
        match r {
            Ok(r) if r.status == 200 => {
                auth.token = Some(token_from(&r, sent, "auth/token/renew-self")?);
                Ok(())
            }
            // Not renewable any more, revoked, or Vault had a hiccup: log in afresh.
            _ => self.login(auth).await,
        }
    }

    /// A usable token: logs in (always, when `fresh`) or renews as needed.
    pub(super) async fn token(&self, fresh: bool) -> Result<Zeroizing<String>> {
        let mut auth = self.auth.lock().await;
        let now = Instant::now();
        let state = auth.token.as_ref().map(|t| {
            (
                t.expires_at.is_some_and(|e| now >= e),
                t.renew_at.is_some_and(|r| now >= r),
            )
        });
        match state {
            None => self.login(&mut auth).await?,
            Some(_) if fresh => self.login(&mut auth).await?,
            Some((true, _)) => self.login(&mut auth).await?,
            Some((false, true)) => self.renew(&mut auth).await?,
            Some((false, false)) => {}
        }
        auth.token
            .as_ref()
            .map(|t| t.value.clone())
            .ok_or_else(|| Error::Backend("vault login returned no token".into()))
    }
}

/// `text` with every occurrence of `secret` cut out.
fn redact(text: &str, secret: &str) -> String {
    if secret.len() < 4 {
        return text.to_string();
    }
    text.replace(secret, "<redacted>")
}

fn token_from(r: &Response, sent: Instant, path: &str) -> Result<Token> {
    let mut v = r.json();
    let auth = &mut v["auth"];
    let lease = auth["lease_duration"].as_u64().unwrap_or(0);
    let value = match auth.get_mut("client_token") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Zeroizing::new(std::mem::take(s)),
        _ => {
            return Err(Error::Backend(format!(
                "vault {path}: answer has no client token"
            )))
        }
    };
    let (renew_at, expires_at) = if lease == 0 {
        (None, None)
    } else {
        let lease = Duration::from_secs(lease);
        (Some(sent + lease.mul_f64(0.8)), Some(sent + lease))
    };
    Ok(Token {
        value,
        renew_at,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_cut_out_of_vault_errors() {
        assert_eq!(
            redact("invalid jwt eyJabc.def.ghi given", "eyJabc.def.ghi"),
            "invalid jwt <redacted> given"
        );
        assert_eq!(redact("permission denied", "x"), "permission denied");
    }
}
