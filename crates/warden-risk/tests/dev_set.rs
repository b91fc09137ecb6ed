//! The classifier against the labelled development set (`../shared/datasets/risk-dev.jsonl`,
//! beside the repository): the figures, a confusion summary and every miss, printed; the
//! targets asserted. See them with
//!
//! ```sh
//! cargo test -p warden-risk --test dev_set -- --nocapture
//! ```
//!
//! The targets: the category right for at least 90% of the tools, and at most 5% of the tools
//! labelled high or critical rated low or medium ("dangerous under-rated").

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use warden_risk::{Category, Risk, classify};

fn dataset() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = root.join("../shared/datasets/risk-dev.jsonl");
    path.exists().then_some(path)
}

fn category(s: &str) -> Category {
    match s {
        "read" => Category::Read,
        "write" => Category::Write,
        "destructive" => Category::Destructive,
        "execute" => Category::Execute,
        "send" => Category::Send,
        "financial" => Category::Financial,
        "admin" => Category::Admin,
        other => panic!("unknown category {other:?} in the dataset"),
    }
}

fn risk(s: &str) -> Risk {
    match s {
        "low" => Risk::Low,
        "medium" => Risk::Medium,
        "high" => Risk::High,
        "critical" => Risk::Critical,
        other => panic!("unknown risk {other:?} in the dataset"),
    }
}

fn pct(n: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        100.0 * n as f64 / of as f64
    }
}

#[test]
fn dev_set_figures() {
    let Some(path) = dataset() else {
        // The dataset lives beside the repository, not in it; a checkout without it has
        // nothing to measure.
        println!("risk-dev.jsonl not found beside the repository; skipping");
        return;
    };
    let text = std::fs::read_to_string(&path).unwrap();
    let rows: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!rows.is_empty());

    let mut cat_right = 0;
    let mut risk_right = 0;
    let mut dangerous = 0;
    let mut under = 0;
    let mut confusion: BTreeMap<(Category, Category), usize> = BTreeMap::new();
    let mut risk_confusion: BTreeMap<(Risk, Risk), usize> = BTreeMap::new();
    let mut misses = Vec::new();
    for row in &rows {
        let a = classify(row);
        let want_cat = category(row["category"].as_str().unwrap());
        let want_risk = risk(row["risk"].as_str().unwrap());
        *confusion.entry((want_cat, a.category)).or_default() += 1;
        *risk_confusion.entry((want_risk, a.risk)).or_default() += 1;
        let cat_ok = a.category == want_cat;
        let risk_ok = a.risk == want_risk;
        cat_right += usize::from(cat_ok);
        risk_right += usize::from(risk_ok);
        let is_dangerous = want_risk >= Risk::High;
        let is_under = is_dangerous && a.risk <= Risk::Medium;
        dangerous += usize::from(is_dangerous);
        under += usize::from(is_under);
        if !cat_ok || !risk_ok {
            misses.push(format!(
                "{}{:<32} labelled {}/{}, rated {}/{}  [{}]\n      label: {}\n      rationale: {}",
                if is_under { "!! " } else { "   " },
                a.name,
                want_cat,
                want_risk,
                a.category,
                a.risk,
                a.evidence.join("; "),
                row["why"].as_str().unwrap_or(""),
                a.rationale,
            ));
        }
    }
    let n = rows.len();

    println!("\nwarden-risk on the development set ({n} tools, ../shared/datasets/risk-dev.jsonl)");
    println!(
        "  category accuracy:      {cat_right}/{n} = {:.1}%  (target >= 90%)",
        pct(cat_right, n)
    );
    println!(
        "  risk accuracy:          {risk_right}/{n} = {:.1}%",
        pct(risk_right, n)
    );
    println!(
        "  dangerous under-rated:  {under}/{dangerous} = {:.1}%  (labelled high/critical, rated low/medium; target <= 5%)",
        pct(under, dangerous)
    );
    println!("\ncategory confusion (rows: label, columns: rated)");
    let cats = [
        Category::Read,
        Category::Write,
        Category::Destructive,
        Category::Execute,
        Category::Send,
        Category::Financial,
        Category::Admin,
    ];
    print!("  {:<12}", "");
    for c in cats {
        print!("{:>6}", &c.as_str()[..5.min(c.as_str().len())]);
    }
    println!();
    for want in cats {
        print!("  {:<12}", want.as_str());
        for got in cats {
            let k = confusion.get(&(want, got)).copied().unwrap_or(0);
            print!(
                "{:>6}",
                if k == 0 {
                    ".".to_owned()
                } else {
                    k.to_string()
                }
            );
        }
        println!();
    }
    println!("\nrisk confusion (rows: label, columns: rated)");
    let risks = [Risk::Low, Risk::Medium, Risk::High, Risk::Critical];
    print!("  {:<12}", "");
    for r in risks {
        print!("{:>9}", r.as_str());
    }
    println!();
    for want in risks {
        print!("  {:<12}", want.as_str());
        for got in risks {
            let k = risk_confusion.get(&(want, got)).copied().unwrap_or(0);
            print!(
                "{:>9}",
                if k == 0 {
                    ".".to_owned()
                } else {
                    k.to_string()
                }
            );
        }
        println!();
    }
    println!(
        "\nmisclassified ({}; !! = dangerous under-rated):",
        misses.len()
    );
    for m in &misses {
        println!("{m}");
    }

    assert!(
        pct(cat_right, n) >= 90.0,
        "category accuracy {:.1}% is below the 90% target",
        pct(cat_right, n)
    );
    assert!(
        pct(under, dangerous) <= 5.0,
        "dangerous under-rated {:.1}% is above the 5% target",
        pct(under, dangerous)
    );
}
