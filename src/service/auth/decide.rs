//! What the policy asks of one login: loads what the rules look at,
//! evaluates them, and subtracts what a step-up session already proved.

use super::context::LoginContext;
use super::*;
use crate::domain::{
    acr_for, ApprovedLogin, Decision, EvalInput, Outcome, PolicySpec, Sensitivity,
    MAX_FAILURE_COUNT,
};
use chrono::Duration;

/// The decision for one login.
#[derive(Debug, Clone)]
pub(crate) struct Decided {
    pub decision: Decision,
    /// Factors a valid `context.session` already satisfied (its `amr`).
    pub inherited: Vec<Factor>,
    /// The session's link step was approved on the appliance's page.
    pub inherited_page: bool,
    /// The session that applied, if any.
    pub session: Option<String>,
    /// What this login still has to pass; empty: approved at once.
    pub steps: Vec<Factor>,
}

impl Decided {
    /// `0`, `1`, ... or `default`.
    pub fn matched_rule(&self) -> String {
        self.decision.matched.to_string()
    }

    /// The `acr` the login reaches once `steps` are done.
    pub fn acr(&self) -> &'static str {
        match self.decision.outcome {
            Outcome::Allow | Outcome::Deny => acr_for(&[]),
            Outcome::Require(_) => {
                let all: Vec<Factor> = self.inherited.iter().chain(&self.steps).copied().collect();
                acr_for(&all)
            }
        }
    }
}

impl Services {
    /// Evaluates `spec` for this user (`None`: unknown or not eligible, so
    /// no history) logging in to `system`. Reads only.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn decide(
        &self,
        db: &Db<'_>,
        account_id: &str,
        spec: &PolicySpec,
        system: &SystemRow,
        user: Option<&UserRow>,
        ctx: &LoginContext,
        now: DateTime<Utc>,
    ) -> Result<Decided, Error> {
        let rules = spec.effective_rules();
        // Only what some rule reads: a plain policy costs no query here.
        let needs = rules.needs();
        let last = match user {
            Some(u) if needs.last_login => db.last_approved_login(u.id, system.id)?,
            _ => None,
        };
        let device_known = match (&ctx.device_id, user) {
            (_, _) if !needs.device => None,
            (Some(d), Some(u)) => Some(db.device_seen(u.id, d)?),
            (Some(_), None) => Some(false),
            (None, _) => None,
        };
        let failures = match (needs.failures, user) {
            (Some(back), Some(u)) => db.failures_since(u.id, now - back, MAX_FAILURE_COUNT)?,
            _ => Vec::new(),
        };
        let input = EvalInput {
            ip: ctx.ip,
            sensitivity: ctx.sensitivity,
            system_sensitivity: Sensitivity::new(system.sensitivity).unwrap_or_default(),
            device_known,
            groups: user.map(|u| u.groups.as_slice()).unwrap_or_default(),
            last_approved: last
                .as_ref()
                .map(|(at, factors)| ApprovedLogin { at: *at, factors }),
            recent_failures: &failures,
        };
        let decision = rules.evaluate(&input, now);
        let mut decided = Decided {
            decision,
            inherited: Vec::new(),
            inherited_page: false,
            session: None,
            steps: Vec::new(),
        };
        let Outcome::Require(required) = decision.outcome else {
            return Ok(decided);
        };
        decided.steps = required.factors().to_vec();
        if let (Some(sid), Some(u)) = (&ctx.session, user) {
            if let Some(parent) = db.challenge(account_id, sid)? {
                let max_age = Duration::seconds(i64::from(spec.session_max_age_seconds));
                let fresh = parent
                    .completed_at
                    .is_some_and(|at| at <= now && now - at < max_age);
                let usable = parent.status == ChallengeStatus::Approved
                    && parent.decoy.is_none()
                    && parent.user_id == Some(u.id)
                    && fresh;
                if usable {
                    decided.steps.retain(|f| !parent.amr.contains(f));
                    decided.inherited = parent.amr.clone();
                    decided.inherited_page = parent.page_approved;
                    decided.session = Some(parent.id);
                }
            }
        }
        Ok(decided)
    }
}
