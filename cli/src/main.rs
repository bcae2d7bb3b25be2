//! `loginguard`: the login-storm simulation and policy checks.

mod admin;
mod metrics;
mod simulate;

use std::process::ExitCode;

use loginguard::Policy;

const USAGE: &str = "\
usage:
  loginguard simulate [--policy FILE] [--minutes N] [--users N]
      replay a login storm (real users, a brute force, credential stuffing,
      a botnet spray, a user on a trusted device) through the engine and
      print what each actor experienced
  loginguard check-policy FILE
      validate a policy file and print the effective policy

against the shared or redis store a policy file names ([store] kind = \"shared\"
or \"redis\"):
  loginguard inspect --policy FILE [--account A] [--ip IP] [--device D] [--json]
      what check would decide now, and every counter behind it
  loginguard reset-account --policy FILE ACCOUNT [--json]
      clear the account's counters, reset_required included
  loginguard reset-ip --policy FILE IP [--json]
      clear the network's counter
  loginguard stats --policy FILE [--json | --prometheus]
      keys in use, evictions, refused inserts, decisions by action (and the
      redis store's own figures); --prometheus prints the text exposition format
  loginguard record-failure --policy FILE [--account A] [--ip IP] [--device D] [--json]
      record one failed login (for trying a policy or an integration)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("simulate") => simulate::Options::parse(&args[1..]).and_then(simulate::run),
        Some("check-policy") => check_policy(&args[1..]),
        Some("inspect") => admin::inspect(&args[1..]),
        Some("reset-account") => admin::reset_account(&args[1..]),
        Some("reset-ip") => admin::reset_ip(&args[1..]),
        Some("stats") => admin::stats(&args[1..]),
        Some("record-failure") => admin::record_failure(&args[1..]),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown or missing command\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("loginguard: {message}");
            ExitCode::from(2)
        }
    }
}

fn check_policy(args: &[String]) -> Result<(), String> {
    let [path] = args else {
        return Err(format!("check-policy takes one file\n\n{USAGE}"));
    };
    let policy = Policy::from_file(path).map_err(|e| e.to_string())?;
    println!("{path}: valid\n\n{policy:#?}");
    Ok(())
}
