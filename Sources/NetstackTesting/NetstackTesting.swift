// NetstackTesting: what tests and labs use to drive stacks in virtual time.
//
// What it promises
// - `ManualClock`: time that moves only when a test moves it.
// - `FakeNetwork`: many stacks and links stepped in virtual time by one
//   thread, deterministic for a given seed.
// - `Impairment`: netem-like delay, jitter, loss, duplication, reordering,
//   corruption and rate limits on a link, seeded and reproducible.
//
// Kernel counterpart: none — this is the test bench (sch_netem.c is the model
// for the impairments).
