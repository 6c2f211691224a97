//! Policies that live outside Rust: `python: module:callable` in an evaluation spec.
//!
//! The `dreamrig` binary does not embed Python, so it cannot run such a policy; the Python
//! package (`python/`) can. It hands the evaluation an [`ExternalPolicies`] host, which resolves
//! each reference when the spec loads and gives every lock-step batch of episodes one
//! [`BatchPolicy`] that calls the callable once per batch step.

use crate::{BatchPolicy, PolicyError};
use dreamrig_sim::{ActionSpec, ObservationSpec};
use std::sync::Arc;

/// Resolves and runs policies that are not Rust code (Python callables).
///
/// Implementations must be thread-safe: the evaluation runner asks for batches from its worker
/// threads, and each batch is used by one thread at a time.
pub trait ExternalPolicies: Send + Sync {
    /// Checks, when the spec loads, that `reference` resolves (the module imports, the attribute
    /// exists and can be called) for the policy named `policy`.
    ///
    /// # Errors
    /// [`PolicyError::Failed`] saying what did not resolve.
    fn check(&self, policy: &str, reference: &str) -> Result<(), PolicyError>;

    /// A policy for one lock-step batch of episodes of one scenario, whose worlds have these
    /// specs.
    ///
    /// # Errors
    /// [`PolicyError::Failed`] when the reference no longer resolves.
    fn batch(
        &self,
        policy: &str,
        reference: &str,
        observation: &Arc<ObservationSpec>,
        action: &ActionSpec,
    ) -> Result<Box<dyn BatchPolicy>, PolicyError>;
}

/// Checks the form of a `python:` reference: `module:callable`, where `module` is a dotted
/// Python module path and `callable` a dotted attribute path, both of identifiers.
///
/// # Errors
/// What was expected and what was found, for [`SpecProblem`](crate::zoo::SpecProblem).
pub fn check_reference(reference: &str) -> Result<(), String> {
    let identifier = |s: &str| {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c == '_' || c.is_alphabetic()) && chars.all(|c| c == '_' || c.is_alphanumeric())
    };
    let dotted = |s: &str| !s.is_empty() && s.split('.').all(identifier);
    match reference.split_once(':') {
        Some((module, attribute)) if dotted(module) && dotted(attribute) => Ok(()),
        _ => Err(format!("expected module:callable (for example my_policies:policy), got {reference:?}")),
    }
}

/// Why the `dreamrig` binary refuses a `python:` policy, and what to run instead.
pub fn not_here(reference: &str) -> String {
    format!(
        "python policy {reference} runs only inside Python (the dreamrig binary does not embed it): \
         install the package (pip install ./python) and run `python -m dreamrig eval SPEC --out DIR`, \
         or call dreamrig.evaluate(SPEC, OUT) from Python"
    )
}

#[cfg(test)]
mod tests {
    use super::check_reference;

    #[test]
    fn a_python_reference_is_a_dotted_module_and_a_dotted_attribute() {
        assert!(check_reference("policies:act").is_ok());
        assert!(check_reference("examples.torch_mlp:Policy.act").is_ok());
        for bad in ["policies", ":act", "policies:", "my-policies:act", "policies:act()", "a..b:c", "1mod:f"] {
            assert!(check_reference(bad).is_err(), "{bad}");
        }
    }
}
