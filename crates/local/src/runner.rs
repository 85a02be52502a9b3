//! The clone run in-process: the same steps, in the same order, with the same retries and the
//! same records as statemachine/clone-run.asl.json, whose Retry numbers it reads (tests/asl.rs
//! fails when the states drift apart).

use std::time::{Duration, Instant};

use chrono::Utc;
use echome_core::{
    CloneInput, CloneOutput, CloneRunInput, ExtractInput, ExtractOutput, QualityScore, RunLog, RunOutcome,
    RunStart, RunStarter, ScoreInput, SegmentInput, SegmentOutput, StepError, StorageError, TransitionInput,
    TransitionOutput,
    steps::{CallContext, StateError},
};

/// A Task state and what it calls: a function (`extract-audio`) or a service integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub state: &'static str,
    pub function: &'static str,
}

/// The ASL's `arn:aws:states:::dynamodb:updateItem`: the run's record is updated.
pub const RECORD_RUN: &str = "dynamodb:updateItem";

/// The success path, in order. TransitionCall runs only when a caller is waiting.
pub const CLONE_RUN: &[Step] = &[
    Step { state: "ExtractAudio", function: "extract-audio" },
    Step { state: "SegmentAudio", function: "segment-audio" },
    Step { state: "CloneVoice", function: "clone-voice" },
    TRANSITION,
    SCORE,
    Step { state: "RecordSuccess", function: RECORD_RUN },
];

pub const TRANSITION: Step = Step { state: "TransitionCall", function: "transition-call" };

/// After the hand-over (or the clone, with nobody waiting): the voice's quality is measured. The
/// ASL's Catch takes every error: a run never fails for its score.
pub const SCORE: Step = Step { state: "ScoreVoice", function: "score-voice" };

/// The ASL's parallel branch: at the call's deadline, the caller still on the greeting gets
/// the default voice.
pub const AT_DEADLINE: Step = Step { state: "HandOverAtDeadline", function: "transition-call" };

/// Where every function step's Catch goes.
pub const ON_FAILURE: Step = Step { state: "RecordFailure", function: RECORD_RUN };

/// After the failure is recorded, a waiting caller is handed to the default voice.
pub const AFTER_FAILURE: Step = Step { state: "HandOverAfterFailure", function: "transition-call" };

/// The functions the run calls, in-process.
pub trait CloneRunSteps: Send + Sync {
    fn extract_audio(
        &self,
        input: ExtractInput,
    ) -> impl Future<Output = Result<ExtractOutput, StepError>> + Send;
    fn segment_audio(
        &self,
        input: SegmentInput,
    ) -> impl Future<Output = Result<SegmentOutput, StepError>> + Send;
    fn clone_voice(&self, input: CloneInput) -> impl Future<Output = Result<CloneOutput, StepError>> + Send;
    fn transition_call(
        &self,
        input: TransitionInput,
    ) -> impl Future<Output = Result<TransitionOutput, StepError>> + Send;
    fn score_voice(&self, input: ScoreInput) -> impl Future<Output = Result<QualityScore, StepError>> + Send;
}

/// What a run reports as it goes, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub enum RunEvent {
    Entered(Step),
    Left(Step, Duration),
    Retrying(Step, u32),
}

/// A finished run: everything its states produced, or how it failed.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub extracted: Option<ExtractOutput>,
    pub pack: Option<SegmentOutput>,
    pub clone: Option<CloneOutput>,
    /// What the hand-over did, when a caller was waiting.
    pub transition: Option<TransitionOutput>,
    /// The voice's measured quality, or why it could not be measured (the run succeeds anyway).
    pub quality: Option<Result<QualityScore, StepError>>,
    pub error: Option<StepError>,
}

pub struct Runner<S, L> {
    steps: S,
    log: L,
    /// Replaces the ASL's first interval (tests); the attempts and rates stay the ASL's.
    backoff: Option<Duration>,
    /// Runs started by this process: a second start of one (a duplicate delivery) is refused.
    started: std::sync::Mutex<std::collections::HashSet<echome_core::RunId>>,
    /// How many clones may run at once (the deadline timers are never held back).
    limit: Option<std::sync::Arc<tokio::sync::Semaphore>>,
    on_event: Box<dyn Fn(RunEvent) + Send + Sync>,
}

impl<S: CloneRunSteps, L: RunLog> Runner<S, L> {
    pub fn new(steps: S, log: L) -> Self {
        Self {
            steps,
            log,
            backoff: None,
            started: Default::default(),
            limit: None,
            on_event: Box::new(|_| {}),
        }
    }

    pub fn on_event(mut self, f: impl Fn(RunEvent) + Send + Sync + 'static) -> Self {
        self.on_event = Box::new(f);
        self
    }

    /// At most `n` clone branches at once (`echome serve`: one machine's cores, not one per
    /// caller); the rest wait their turn while their deadlines still run.
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.limit = Some(std::sync::Arc::new(tokio::sync::Semaphore::new(n.max(1))));
        self
    }

    /// Shorter waits between retries (tests).
    pub fn with_backoff(mut self, first: Duration) -> Self {
        self.backoff = Some(first);
        self
    }

    /// Marks a run as started by this process; `false` when it already was.
    fn first_start(&self, run_id: &echome_core::RunId) -> bool {
        self.started.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(run_id.clone())
    }

    /// Runs every state; the run's record (which must exist) says how it ended. `Err` only when
    /// the record itself cannot be written.
    ///
    /// With a caller waiting, the clone runs beside a timer, as the ASL's Parallel state: the
    /// deadline hands the caller to the default voice if the clone is not ready by then; a
    /// failed clone stops the timer and goes to the failure path, which hands over at once.
    pub async fn run(&self, input: &CloneRunInput) -> Result<RunResult, StorageError> {
        let mut result = RunResult {
            extracted: None,
            pack: None,
            clone: None,
            transition: None,
            quality: None,
            error: None,
        };
        let outcome = match &input.call {
            None => self.clone_branch(input, &mut result).await,
            Some(call) => {
                let wait = (call.deadline - Utc::now()).to_std().unwrap_or_default();
                let deadline = async {
                    tokio::time::sleep(wait).await;
                    self.step(AT_DEADLINE, || {
                        self.steps.transition_call(self.transition_input(input, call, None, None))
                    })
                    .await
                };
                let branch = self.clone_branch(input, &mut result);
                tokio::pin!(deadline, branch);
                tokio::select! {
                    done = &mut branch => done,
                    // The clone branch keeps going after the deadline: a clone made late is
                    // still cached for the caller's next call.
                    at_deadline = &mut deadline => match at_deadline {
                        Ok(_) => branch.await,
                        Err(e) => Err(e),
                    },
                }
            }
        };
        match outcome {
            Ok(()) => {
                let step = CLONE_RUN[CLONE_RUN.len() - 1];
                (self.on_event)(RunEvent::Entered(step));
                let started = Instant::now();
                let report = result.pack.as_ref().map(|p| p.report.clone());
                let voice_id = result.clone.as_ref().map(|c| c.voice_id.clone());
                match report {
                    Some(report) => {
                        let outcome = RunOutcome::Succeeded { report, voice_id };
                        self.log.finish_run(&input.run_id, &outcome, Utc::now()).await?;
                    }
                    None => {
                        self.fail(input, StepError::internal("RecordSuccess without a pack"), &mut result)
                            .await?
                    }
                }
                (self.on_event)(RunEvent::Left(step, started.elapsed()));
            }
            Err(e) => self.fail(input, e, &mut result).await?,
        }
        Ok(result)
    }

    /// (pack on file?) ExtractAudio → SegmentAudio → CloneVoice → (caller waiting?)
    /// TransitionCall → ScoreVoice. A pack an earlier run kept goes straight to CloneVoice, and back to the
    /// analysis where the ASL's Catch says (its files expired).
    async fn clone_branch(&self, input: &CloneRunInput, result: &mut RunResult) -> Result<(), StepError> {
        let mut kept = input.pack.clone();
        let clone = loop {
            let from_earlier_run = kept.is_some();
            let pack = match kept.take() {
                Some(pack) => pack,
                None => self.analyse(input, result).await?,
            };
            result.pack = Some(pack.clone());
            let req = CloneInput {
                run_id: input.run_id.clone(),
                person: input.person.clone(),
                pack,
                sample: Some(input.sample.clone()),
            };
            match self.step(CLONE_RUN[2], || self.steps.clone_voice(req.clone())).await {
                Err(e)
                    if from_earlier_run
                        && crate::asl::catch(CLONE_RUN[2].state, e.error_type.as_str())
                            == Some(CLONE_RUN[0].state) =>
                {
                    tracing::info!(run_id = %input.run_id, "the kept pack has expired: analysing the recording again");
                }
                done => break done?,
            }
        };
        result.clone = Some(clone.clone());
        if let Some(call) = &input.call {
            let req = self.transition_input(input, call, Some(clone.clone()), None);
            let done = self.step(TRANSITION, || self.steps.transition_call(req.clone())).await?;
            result.transition = Some(done);
        }
        if let Some(pack) = result.pack.clone() {
            let req = ScoreInput { run_id: input.run_id.clone(), person: input.person.clone(), pack, clone };
            let scored = self.step(SCORE, || self.steps.score_voice(req.clone())).await;
            if let Err(e) = &scored {
                // Caught where the ASL catches it (every error, today): the run goes on.
                if crate::asl::catch(SCORE.state, e.error_type.as_str()).is_none() {
                    return Err(e.clone());
                }
                tracing::warn!(run_id = %input.run_id, error = %echome_core::redact::phone_numbers(&e.to_string()), "the voice's quality could not be measured");
            }
            result.quality = Some(scored);
        }
        Ok(())
    }

    /// ExtractAudio → SegmentAudio. The turn (the machine's cores) is held through these only:
    /// waiting on the provider and handing over cost no CPU, and calls arriving together
    /// should not queue behind them.
    async fn analyse(
        &self,
        input: &CloneRunInput,
        result: &mut RunResult,
    ) -> Result<SegmentOutput, StepError> {
        let _turn = match &self.limit {
            Some(limit) => Some(
                limit
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| StepError::internal("the run queue closed"))?,
            ),
            None => None,
        };
        let req = ExtractInput {
            run_id: input.run_id.clone(),
            person: input.person.clone(),
            sample: input.sample.clone(),
            combine: input.combine.clone(),
        };
        let extracted = self.step(CLONE_RUN[0], || self.steps.extract_audio(req.clone())).await?;
        result.extracted = Some(extracted.clone());
        let req = SegmentInput { run_id: input.run_id.clone(), extracted };
        self.step(CLONE_RUN[1], || self.steps.segment_audio(req.clone())).await
    }

    /// RecordFailure, then (caller waiting) HandOverAfterFailure, whose own failure ends the
    /// run as failed all the same.
    async fn fail(
        &self,
        input: &CloneRunInput,
        e: StepError,
        result: &mut RunResult,
    ) -> Result<(), StorageError> {
        let started = Instant::now();
        (self.on_event)(RunEvent::Entered(ON_FAILURE));
        self.log.finish_run(&input.run_id, &RunOutcome::Failed(e.clone()), Utc::now()).await?;
        (self.on_event)(RunEvent::Left(ON_FAILURE, started.elapsed()));
        if let Some(call) = &input.call {
            let req = self.transition_input(input, call, None, Some(&e));
            match self.step(AFTER_FAILURE, || self.steps.transition_call(req.clone())).await {
                Ok(done) => result.transition = Some(done),
                Err(e) => {
                    tracing::error!(error = %echome_core::redact::phone_numbers(&e.to_string()), "the fallback hand-over failed")
                }
            }
        }
        result.error = Some(e);
        Ok(())
    }

    fn transition_input(
        &self,
        input: &CloneRunInput,
        call: &CallContext,
        clone: Option<CloneOutput>,
        error: Option<&StepError>,
    ) -> TransitionInput {
        TransitionInput {
            run_id: input.run_id.clone(),
            // A run with a call on the line is a caller's (the webhook starts it).
            caller_id: input.person.caller().cloned().unwrap_or_else(|| call.phone_number.clone()),
            call: call.clone(),
            clone,
            error: error
                .map(|e| StateError { error: e.error_type.as_str().to_owned(), cause: e.to_string() }),
        }
    }

    /// One Task state with its retries, reported to `on_event`.
    async fn step<T, F, Fut>(&self, step: Step, call: F) -> Result<T, StepError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StepError>>,
    {
        let started = Instant::now();
        (self.on_event)(RunEvent::Entered(step));
        let out = self.retrying(step, call).await;
        (self.on_event)(RunEvent::Left(step, started.elapsed()));
        out
    }

    async fn retrying<T, F, Fut>(&self, step: Step, mut call: F) -> Result<T, StepError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StepError>>,
    {
        let mut attempt = 0;
        loop {
            match call().await {
                Err(e) => {
                    let Some(retrier) = crate::asl::retrier(step.state, e.error_type.as_str())
                        .filter(|r| attempt < r.max_attempts)
                    else {
                        return Err(e);
                    };
                    attempt += 1;
                    let retrier = match self.backoff {
                        Some(first) => crate::asl::Retrier { interval: first, ..retrier },
                        None => retrier,
                    };
                    (self.on_event)(RunEvent::Retrying(step, attempt));
                    tracing::warn!(state = step.state, attempt, error = %echome_core::redact::phone_numbers(&e.to_string()), "retrying");
                    tokio::time::sleep(retrier.wait(attempt)).await;
                }
                ok => return ok,
            }
        }
    }
}

/// Locally, starting a run runs it to the end before returning.
impl<S: CloneRunSteps, L: RunLog> RunStarter for Runner<S, L> {
    async fn start(&self, input: &CloneRunInput) -> Result<RunStart, StorageError> {
        if let Some(rec) = self.log.run(&input.run_id).await?
            && rec.status != echome_core::RunStatus::Running
        {
            return Ok(RunStart::AlreadyStarted);
        }
        if !self.first_start(&input.run_id) {
            return Ok(RunStart::AlreadyStarted);
        }
        self.run(input).await?;
        Ok(RunStart::Started)
    }
}

/// For `echome serve`: starting a run returns at once (as StartExecution does) and the run goes
/// on in the background.
pub struct Background<S, L>(pub std::sync::Arc<Runner<S, L>>);

impl<S: CloneRunSteps + 'static, L: RunLog + 'static> RunStarter for Background<S, L> {
    async fn start(&self, input: &CloneRunInput) -> Result<RunStart, StorageError> {
        if let Some(rec) = self.0.log.run(&input.run_id).await?
            && rec.status != echome_core::RunStatus::Running
        {
            return Ok(RunStart::AlreadyStarted);
        }
        // As a named execution: a duplicate delivery's start starts nothing new.
        if !self.0.first_start(&input.run_id) {
            return Ok(RunStart::AlreadyStarted);
        }
        let runner = self.0.clone();
        let input = input.clone();
        tokio::spawn(async move {
            if let Err(e) = runner.run(&input).await {
                tracing::error!(run_id = %input.run_id, error = %e, "the run's record could not be written");
            }
        });
        Ok(RunStart::Started)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    use echome_core::{
        AudioError, BlobRef, CallerId, ErrorType, Person, RunId, RunRecord, RunStatus, SourceInfo,
    };

    use super::*;
    use crate::LocalRecords;

    /// Steps that fail `flaky` times with `Retryable` before extracting, then segment or fail.
    struct FakeSteps {
        flaky: u32,
        segment_delay: Option<Duration>,
        /// How long the provider takes to clone.
        clone_delay: Option<Duration>,
        calls: AtomicU32,
        segment_error: Option<StepError>,
        /// A pack an earlier run kept has expired: CloneVoice says `PackGone` for it.
        kept_pack_gone: bool,
        /// ScoreVoice fails this way this many times.
        score_error: Option<(StepError, u32)>,
        seen: Mutex<Vec<&'static str>>,
    }

    impl CloneRunSteps for FakeSteps {
        async fn extract_audio(&self, input: ExtractInput) -> Result<ExtractOutput, StepError> {
            self.seen.lock().unwrap().push("extract-audio");
            if self.calls.fetch_add(1, Ordering::SeqCst) < self.flaky {
                return Err(StepError::new(ErrorType::Retryable, "storage_unavailable", "slow down"));
            }
            let key = |n: &str| BlobRef::new("b", format!("{}{n}", input.run_id.prefix()));
            Ok(ExtractOutput {
                analysis: key("analysis.wav"),
                source: key("source.wav"),
                source_info: SourceInfo {
                    container: "wav".into(),
                    codec: "pcm_s16le".into(),
                    sample_rate_hz: 16000,
                    channels: 1,
                    declared_duration_s: None,
                    duration_s: 60.0,
                    pack_rate_hz: 16000,
                    pack_bits: 16,
                    decode_errors: 0,
                },
                joined: vec![],
            })
        }

        async fn clone_voice(&self, input: CloneInput) -> Result<CloneOutput, StepError> {
            self.seen.lock().unwrap().push("clone-voice");
            assert_eq!(input.sample.as_ref().map(|s| s.key.as_str()), Some("samples/+14155550123/a.wav"));
            if self.kept_pack_gone && !input.pack.report.key.starts_with(&input.run_id.prefix()) {
                return Err(StepError::new(ErrorType::PackGone, "pack_gone", "expired"));
            }
            if let Some(d) = self.clone_delay {
                tokio::time::sleep(d).await;
            }
            Ok(CloneOutput {
                voice_id: echome_core::VoiceId::parse("voice1").unwrap(),
                engine: "offline".into(),
                cached: false,
                evicted: None,
            })
        }

        async fn transition_call(&self, input: TransitionInput) -> Result<TransitionOutput, StepError> {
            let what = match (&input.clone, &input.error) {
                (Some(_), _) => "transition-call:clone",
                (None, Some(_)) => "transition-call:failed",
                (None, None) => "transition-call:deadline",
            };
            self.seen.lock().unwrap().push(what);
            Ok(TransitionOutput { outcome: what.into(), agent_call_id: None, reason: None })
        }

        async fn score_voice(&self, input: ScoreInput) -> Result<QualityScore, StepError> {
            let tries = {
                let mut seen = self.seen.lock().unwrap();
                seen.push("score-voice");
                seen.iter().filter(|s| **s == "score-voice").count() as u32
            };
            if let Some((e, times)) = &self.score_error
                && tries <= *times
            {
                return Err(e.clone());
            }
            let (score, parts) = echome_core::quality::score_parts(&Default::default(), None, &[], false);
            Ok(QualityScore {
                voice_id: input.clone.voice_id,
                engine: input.clone.engine,
                run_id: input.run_id,
                score,
                parts,
                phrases: vec![],
                characters: 0,
                scored_at: Utc::now(),
            })
        }

        async fn segment_audio(&self, input: SegmentInput) -> Result<SegmentOutput, StepError> {
            self.seen.lock().unwrap().push("segment-audio");
            if let Some(d) = self.segment_delay {
                tokio::time::sleep(d).await;
            }
            if let Some(e) = &self.segment_error {
                return Err(e.clone());
            }
            Ok(echome_testkit::fixtures::pack("b", input.run_id.as_str()))
        }
    }

    async fn run_with(steps: FakeSteps) -> (RunResult, RunRecord, Vec<&'static str>) {
        run_call(steps, None).await
    }

    async fn run_call(
        steps: FakeSteps,
        call: Option<echome_core::CallContext>,
    ) -> (RunResult, RunRecord, Vec<&'static str>) {
        run_kept(steps, call, None).await
    }

    /// A run of the caller's recording, on record as started (as webhook-intake or
    /// upload-trigger leave it).
    async fn started(log: &LocalRecords, run: &str) -> CloneRunInput {
        let input = CloneRunInput {
            run_id: RunId::parse(run).unwrap(),
            person: Person::parse("+14155550123").unwrap(),
            sample: BlobRef::new("b", "samples/+14155550123/a.wav"),
            pack: None,
            call: None,
            combine: vec![],
        };
        let rec = RunRecord::started(input.run_id.clone(), &input.person, input.sample.clone(), Utc::now());
        log.create_run(&rec).await.unwrap();
        input
    }

    /// A run given the pack an earlier run (`r0`) kept with the recording.
    async fn run_kept(
        steps: FakeSteps,
        call: Option<echome_core::CallContext>,
        pack: Option<SegmentOutput>,
    ) -> (RunResult, RunRecord, Vec<&'static str>) {
        let dir = tempfile::tempdir().unwrap();
        let log = LocalRecords::open(&dir.path().join("r.redb")).unwrap();
        let input = CloneRunInput { pack, call, ..started(&log, "r1").await };
        let runner = Runner::new(steps, log.clone()).with_backoff(Duration::from_millis(1));
        let result = runner.run(&input).await.unwrap();
        let seen = runner.steps.seen.lock().unwrap().clone();
        (result, log.run(&input.run_id).await.unwrap().unwrap(), seen)
    }

    fn steps(flaky: u32, segment_error: Option<StepError>) -> FakeSteps {
        FakeSteps {
            flaky,
            segment_delay: None,
            clone_delay: None,
            calls: AtomicU32::new(0),
            segment_error,
            kept_pack_gone: false,
            score_error: None,
            seen: Mutex::new(vec![]),
        }
    }

    fn waiting(deadline_ms: i64) -> Option<echome_core::CallContext> {
        Some(echome_core::CallContext {
            threecx_call_id: echome_core::CallId::parse("3cx-1").unwrap(),
            greeting_call_id: Some("conv_greeting".into()),
            phone_number: CallerId::parse("+14155550123").unwrap(),
            deadline: Utc::now() + chrono::Duration::milliseconds(deadline_ms),
        })
    }

    #[tokio::test]
    async fn a_waiting_caller_is_handed_over_when_the_clone_is_ready() {
        let (result, rec, seen) = run_call(steps(0, None), waiting(5_000)).await;
        assert_eq!(
            seen,
            ["extract-audio", "segment-audio", "clone-voice", "transition-call:clone", "score-voice"],
            "the voice is scored after the caller is handed over, never before"
        );
        assert_eq!(rec.status, RunStatus::Succeeded);
        assert!(result.transition.is_some());
        assert!(matches!(result.quality, Some(Ok(_))));
    }

    #[tokio::test]
    async fn a_score_that_cannot_be_measured_costs_the_run_nothing() {
        let mut failing = steps(0, None);
        let quota = StepError::new(ErrorType::ProviderRejected, "quota_exceeded", "no characters left");
        failing.score_error = Some((quota.clone(), 10));
        let (result, rec, seen) = run_call(failing, waiting(5_000)).await;
        assert_eq!(rec.status, RunStatus::Succeeded, "the Catch takes every error");
        assert_eq!(result.quality.unwrap().unwrap_err(), quota);
        assert_eq!(seen.iter().filter(|s| **s == "score-voice").count(), 1, "a refusal is not retried");

        let mut flaky = steps(0, None);
        flaky.score_error = Some((StepError::new(ErrorType::Retryable, "slow_down", "later"), 1));
        let (result, _, seen) = run_with(flaky).await;
        assert!(matches!(result.quality, Some(Ok(_))), "retried as the ASL says");
        assert_eq!(seen.iter().filter(|s| **s == "score-voice").count(), 2);
    }

    /// The pack an earlier run, `r0`, kept with the recording.
    fn kept_pack() -> SegmentOutput {
        echome_testkit::fixtures::pack("b", "r0")
    }

    #[tokio::test]
    async fn a_kept_pack_is_cloned_without_analysing_the_recording_again() {
        let (result, rec, seen) = run_kept(steps(0, None), waiting(5_000), Some(kept_pack())).await;
        assert_eq!(seen, ["clone-voice", "transition-call:clone", "score-voice"]);
        assert_eq!(rec.status, RunStatus::Succeeded);
        assert_eq!(rec.report.unwrap().key, "runs/r0/report.json", "the kept pack's report");
        assert!(result.extracted.is_none());
    }

    #[tokio::test]
    async fn an_expired_kept_pack_sends_the_run_back_to_the_analysis_as_the_asl_catches() {
        let mut gone = steps(0, None);
        gone.kept_pack_gone = true;
        let (result, rec, seen) = run_kept(gone, waiting(5_000), Some(kept_pack())).await;
        assert_eq!(
            seen,
            [
                "clone-voice",
                "extract-audio",
                "segment-audio",
                "clone-voice",
                "transition-call:clone",
                "score-voice"
            ]
        );
        assert_eq!(rec.status, RunStatus::Succeeded);
        assert_eq!(result.pack.unwrap().report.key, "runs/r1/report.json", "this run's new pack");
    }

    #[tokio::test]
    async fn a_failed_clone_hands_the_caller_over_after_recording_the_failure() {
        let err = StepError::from(AudioError::MusicOnly { music_s: 50.0, duration_s: 60.0 });
        let (result, rec, seen) = run_call(steps(0, Some(err)), waiting(5_000)).await;
        assert_eq!(seen, ["extract-audio", "segment-audio", "transition-call:failed"]);
        assert_eq!(rec.status, RunStatus::Failed);
        assert_eq!(result.transition.unwrap().outcome, "transition-call:failed");
    }

    #[tokio::test]
    async fn the_deadline_hands_over_while_the_clone_is_still_being_made() {
        let mut slow = steps(0, None);
        slow.segment_delay = Some(Duration::from_millis(300));
        let (_, rec, seen) = run_call(slow, waiting(50)).await;
        assert_eq!(
            seen,
            [
                "extract-audio",
                "segment-audio",
                "transition-call:deadline",
                "clone-voice",
                "transition-call:clone",
                "score-voice"
            ],
            "the clone still finishes (and is cached) after the deadline"
        );
        assert_eq!(rec.status, RunStatus::Succeeded);
    }

    #[tokio::test]
    async fn runs_queue_for_the_audio_steps_only_not_for_the_provider_s_wait() {
        let dir = tempfile::tempdir().unwrap();
        let log = LocalRecords::open(&dir.path().join("r.redb")).unwrap();
        let mut slow = steps(0, None);
        slow.clone_delay = Some(Duration::from_millis(400));
        let runner = std::sync::Arc::new(Runner::new(slow, log.clone()).with_concurrency(1));
        let mut tasks = Vec::new();
        for n in 0..3 {
            let input = started(&log, &format!("r{n}")).await;
            let runner = runner.clone();
            tasks.push(tokio::spawn(async move { runner.run(&input).await.unwrap() }));
        }
        let started = Instant::now();
        for t in tasks {
            assert!(t.await.unwrap().error.is_none());
        }
        // One turn at a time for the audio, but the three 400 ms provider waits overlap.
        assert!(started.elapsed() < Duration::from_millis(1100), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn retryable_failures_are_retried_as_the_asl_does() {
        let (result, rec, seen) = run_with(steps(2, None)).await;
        assert!(result.error.is_none());
        assert_eq!(
            seen,
            [
                "extract-audio",
                "extract-audio",
                "extract-audio",
                "segment-audio",
                "clone-voice",
                "score-voice"
            ]
        );
        assert_eq!(rec.voice_id.as_ref().map(|v| v.as_str()), Some("voice1"));
        assert_eq!(rec.status, RunStatus::Succeeded);
        assert_eq!(rec.report.unwrap().key, "runs/r1/report.json");
    }

    #[tokio::test]
    async fn a_step_that_keeps_failing_ends_the_run_on_the_failure_path() {
        let (result, rec, seen) = run_with(steps(10, None)).await;
        let retries = crate::asl::retrier("ExtractAudio", "Retryable").unwrap().max_attempts as usize;
        assert_eq!(seen.len(), 1 + retries, "one try and the ASL's {retries} retries");
        assert_eq!(result.error.as_ref().map(|e| e.error_type), Some(ErrorType::Retryable));
        assert_eq!(rec.status, RunStatus::Failed);
    }

    #[tokio::test]
    async fn bad_audio_is_not_retried_and_is_recorded() {
        let err = StepError::from(AudioError::MusicOnly { music_s: 50.0, duration_s: 60.0 });
        let (result, rec, seen) = run_with(steps(0, Some(err.clone()))).await;
        assert_eq!(seen, ["extract-audio", "segment-audio"]);
        assert!(result.pack.is_none() && result.extracted.is_some());
        assert_eq!((rec.status, rec.error), (RunStatus::Failed, Some(err)));
    }
}
