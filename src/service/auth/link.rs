//! Status polling and the link confirmation page.

use super::record::step_entry;
use super::*;
use crate::domain::Actor;

impl Services {
    pub async fn status(
        &self,
        account_id: &str,
        request_id: &str,
        now: DateTime<Utc>,
    ) -> Result<StatusView, Error> {
        let account_id = account_id.to_string();
        let id = request_id.to_string();
        let c = self
            .store
            .read(move |db| db.challenge(&account_id, &id).map_err(Error::from))
            .await?
            .ok_or_else(|| {
                Error::not_found(
                    "challenge_not_found",
                    "no authentication with this request_id",
                )
            })?;
        let status = c.status_at(now);
        let assertion = self.sign(self.claims(&c), now);
        Ok(StatusView {
            matched_rule: c.matched_rule.clone(),
            acr: c.acr.clone(),
            match_code: if status == ChallengeStatus::Pending {
                shown_match_code(&c)
            } else {
                None
            },
            assertion,
            next_step: if status == ChallengeStatus::Pending {
                c.current_step()
            } else {
                None
            },
            attempts_left: c.attempts_left(),
            steps: c.steps().to_vec(),
            amr: c.amr.clone(),
            expires_at: c.secret_expires_at,
            created_at: c.created_at,
            request_id: c.id,
            status,
        })
    }

    /// For the confirmation page's GET: looks, never changes anything.
    pub async fn link_view(&self, token: &str, now: DateTime<Utc>) -> Result<LinkView, Error> {
        let svc = self.clone();
        let token = token.to_string();
        self.store
            .read(move |db| {
                let c = db.challenge_by_secret(&link_hash(&svc.key, &token))?;
                Ok(match c {
                    Some(c) => LinkView {
                        usable: c.status_at(now) == ChallengeStatus::Pending
                            && c.current_step() == Some(Factor::Passwordless),
                        choices: c.match_code.map(|m| m.choices),
                        system_name: c.system_name,
                    },
                    None => LinkView {
                        system_name: String::new(),
                        usable: false,
                        choices: None,
                    },
                })
            })
            .await
    }

    /// The confirmation page's POST: approves the link step. With number
    /// matching, `pick` must be the code the application shows; a wrong pick
    /// counts as a failed attempt and voids this link (another try on the
    /// same three numbers would make the check worthless), a missing pick
    /// changes nothing. Each decision is recorded in the audit log as
    /// `login.link_page` by `actor` (the page: `Actor::System`).
    pub async fn confirm_link(
        &self,
        actor: &Actor,
        token: &str,
        pick: Option<u8>,
        now: DateTime<Utc>,
    ) -> Result<CompleteOutcome, Error> {
        let svc = self.clone();
        let token = token.to_string();
        let actor = actor.clone();
        let (checked, queued) = self
            .store
            .write(move |db| {
                let not_found = || Error::not_found("link_not_found", "this link is not valid");
                let mut c = db
                    .challenge_by_secret(&link_hash(&svc.key, &token))?
                    .ok_or_else(not_found)?;
                let checked = svc.check_page(db, &mut c, pick, now)?;
                let factor = Factor::Passwordless;
                db.audit(&step_entry(
                    &actor,
                    "login.link_page",
                    &c,
                    factor,
                    &checked.0,
                    now,
                ))?;
                Ok::<_, Error>(checked)
            })
            .await?;
        self.metrics
            .login(super::record::step_outcome("login.link_page", &checked));
        if queued {
            self.outbox_ready.notify_one();
        }
        self.finish(checked, now)
    }
}

impl Services {
    /// The page's decision on challenge `c`: refused when closed, a wrong
    /// pick voids the link, else the link step is satisfied. A missing pick
    /// and a challenge not at its link step are errors (nothing recorded).
    fn check_page(
        &self,
        db: &Db<'_>,
        c: &mut Challenge,
        pick: Option<u8>,
        now: DateTime<Utc>,
    ) -> Result<(Checked, bool), Error> {
        if let Some(refusal) = self.refuse_if_closed(db, c, now)? {
            return Ok((Checked::Refused(refusal), false));
        }
        if c.current_step() != Some(Factor::Passwordless) {
            return Err(Error::not_found("link_not_found", "this link is not valid"));
        }
        if let Some(m) = c.match_code {
            match pick {
                None => {
                    return Err(
                        Invalid::new("pick", "pick the number the application shows").into(),
                    )
                }
                Some(p) if p != m.code => {
                    c.secret_hash = None;
                    c.match_code = None;
                    let e = self.wrong_secret(db, c, Factor::Passwordless, now)?;
                    return Ok((Checked::Refused(e), false));
                }
                Some(_) => c.page_approved = true,
            }
        }
        let system = db.system(&c.account_id, &c.system_name)?;
        self.satisfy(db, c, system.as_ref(), now)
    }
}
