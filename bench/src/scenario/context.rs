//! What every part of a run works with: the run itself (its command line, plan, Warren,
//! receiver and broker), the user, source and subscriptions it creates, and what its
//! scenario measured. The scenarios' modules build on it; it imports none of them.

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;

use crate::{
    abuse::AbuseFigures,
    api::{Api, NewSubscription},
    broker::Management,
    cli::{Cli, Plan, Scenario},
    database,
    history::HistoryFigures,
    observe::ObserverFigures,
    phase::{PhaseResult, PhaseSpec},
    receiver::{self, Receiver},
    report::{BacklogSetup, ReleaseFigures, StatsFigures},
    rows::Owner,
    warren::Warren,
};

/// What a scenario measured.
pub(super) struct Measured {
    pub(super) phases: Vec<PhaseResult>,
    pub(super) backlog: Option<BacklogSetup>,
    pub(super) stats: Option<StatsFigures>,
    pub(super) release: Option<ReleaseFigures>,
    pub(super) abuse: Option<AbuseFigures>,
    pub(super) history: Option<HistoryFigures>,
    pub(super) observers: Option<ObserverFigures>,
}

/// Everything a scenario uses.
pub(super) struct Run<'a> {
    pub(super) cli: &'a Cli,
    pub(super) plan: &'a Plan,
    pub(super) warren: &'a Warren,
    pub(super) receiver: &'a Receiver,
    pub(super) management: &'a Management,
    pub(super) cores: usize,
    pub(super) cancel: &'a CancellationToken,
}

/// The user, source and subscriptions a run creates.
pub(super) struct Setup {
    pub(super) api: Api,
    pub(super) ingest_url: String,
    pub(super) owner: Owner,
}

impl Run<'_> {
    /// A phase of the plan's load and times, named `name`.
    pub(super) fn phase(&self, name: &str) -> PhaseSpec {
        PhaseSpec {
            name: name.to_owned(),
            load: self.plan.load,
            warmup: self.plan.warmup,
            duration: self.plan.duration,
            drain_timeout: self.plan.drain_timeout,
            ordered: (self.plan.scenario == Scenario::Ordered).then_some(self.plan.subscriptions),
        }
    }

    /// Signs up, creates the source and the subscriptions: all to the receiver's `/hook`, or
    /// for `ordered`, FIFO ones, the `i`-th to `/ordered/{i}`.
    pub(super) async fn set_up(&self) -> anyhow::Result<Setup> {
        let api = Api::signup(&self.warren.base_url).await?;
        let source = api.create_source().await?;
        let fifo = self.plan.scenario == Scenario::Ordered;
        let mut first = None;
        for i in 0..self.plan.subscriptions {
            let name = format!("bench-{i}");
            let target = match fifo {
                true => self.receiver.url(&receiver::ordered_path(i)),
                false => self.receiver.url("/hook"),
            };
            let new = NewSubscription {
                fifo,
                batch: self.plan.batch,
                ..NewSubscription::new(&name, &target, source.id)
            };
            let id = api.create_subscription(&new).await?;
            first.get_or_insert(id);
        }
        let owner = Owner {
            user_id: api.user_id,
            source_id: source.id,
            subscription_id: first.context("no subscription was created")?,
        };
        Ok(Setup {
            ingest_url: api.ingest_url(&source),
            api,
            owner,
        })
    }

    /// The database rows go in: only a database this run may write to.
    pub(super) async fn database(&self, what: &str) -> anyhow::Result<tokio_postgres::Client> {
        database::connect(&self.database_url(what)?).await
    }

    /// That database's URL.
    pub(super) fn database_url(&self, what: &str) -> anyhow::Result<String> {
        match self.warren.database_url.as_deref() {
            Some(url) => Ok(url.to_owned()),
            None => bail!(
                "{what} writes rows into Warren's database: with --url, also give --database-url"
            ),
        }
    }
}
