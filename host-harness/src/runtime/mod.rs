//! Running the component: the generated bindings of the contract, the
//! engine with its compiled-component cache, and the sandbox every call runs
//! in (memory limit, per-call deadline, the WASI context it is given).

pub mod bindings;
pub mod component;
pub mod sandbox;
