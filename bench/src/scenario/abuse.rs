//! The `abuse` scenario: legitimate load and a `/healthz` prober, alone and then beside a
//! flood of worst-case ingest requests.

use super::context::{Measured, Run, Setup};
use crate::{
    abuse::{self, AbuseFigures, Attack, AttackSettings},
    load::Window,
    phase::{self, PhaseContext},
};

impl Run<'_> {
    /// The `abuse` scenario: a source verifying Standard Webhooks signatures is created for
    /// the attack; the run's source (verifying nothing, its subscription to the receiver)
    /// takes the legitimate load. Legitimate load and the `/healthz` prober run once alone,
    /// then again with `plan.attackers` attackers flooding the verified source.
    pub(super) async fn abuse(
        &self,
        setup: &Setup,
        ctx: &PhaseContext,
        measured: &mut Measured,
    ) -> anyhow::Result<()> {
        let secret = warren_shared::signing::SigningSecret::generate();
        let verified = setup
            .api
            .create_verified_source("warren-bench-attacked", secret.expose())
            .await?;
        let settings = AttackSettings {
            attackers: self.plan.attackers,
            max_body_bytes: if self.cli.url.is_some() {
                abuse::DEFAULT_MAX_BODY_BYTES
            } else {
                abuse::max_body_bytes(&self.plan.warren_env)
            },
            candidates: abuse::CANDIDATES,
        };
        let base = &self.warren.base_url;
        let spec = self.phase("legitimate, no attack");
        let window = Window::starting_now(spec.warmup, spec.duration);
        let (without, healthz_without) = tokio::join!(
            phase::run(ctx, &spec),
            abuse::probe(base, window, self.cancel.clone())
        );
        measured.phases.push(without);
        eprintln!(
            "warren-bench: flooding with {} attackers",
            settings.attackers
        );
        let spec = self.phase("legitimate, under attack");
        let window = Window::starting_now(spec.warmup, spec.duration);
        let attack = Attack::new(
            setup.api.ingest_url(&verified),
            settings,
            window,
            self.cancel.clone(),
        )?;
        let (during, healthz_during, ()) = tokio::join!(
            phase::run(ctx, &spec),
            abuse::probe(base, window, self.cancel.clone()),
            attack.run(settings.attackers)
        );
        measured.phases.push(during);
        measured.abuse = Some(AbuseFigures::new(
            healthz_without,
            healthz_during,
            attack.figures(settings),
        ));
        Ok(())
    }
}
