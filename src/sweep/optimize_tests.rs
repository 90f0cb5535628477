use std::collections::BTreeSet;

use super::*;

/// Two replica counts 1..=30 and a categorical policy of 3 values: cost
/// `2 r1 + 3 r2 + penalty`, p99 `20 + k (310 / r1 + 530 / r2)`, SLO p99 <= 60. The optimum
/// (r1 = r2 = 19, policy 2, cost 107) is unique; policy 0 comes within 1 (cost 108).
const SIZES: [usize; 3] = [30, 30, 3];
const PENALTY: [f64; 3] = [3.0, 0.0, 12.0];
const SPEED: [f64; 3] = [1.0, 1.25, 0.9];

fn score(choice: &[usize]) -> Evaluation {
    let (r1, r2, policy) = ((choice[0] + 1) as f64, (choice[1] + 1) as f64, choice[2]);
    let p99 = 20.0 + SPEED[policy] * (310.0 / r1 + 530.0 / r2);
    Evaluation {
        objective: 2.0 * r1 + 3.0 * r2 + PENALTY[policy],
        slo_value: Some(p99),
        violation: ((p99 - 60.0) / 60.0).max(0.0),
    }
}

/// The feasible configuration of least cost, earliest in grid order; by brute force.
fn brute_force() -> (Choice, f64) {
    let mut best: Option<(Choice, f64)> = None;
    for a in 0..SIZES[0] {
        for b in 0..SIZES[1] {
            for c in 0..SIZES[2] {
                let e = score(&[a, b, c]);
                if e.feasible() && best.as_ref().is_none_or(|(_, o)| e.objective < *o) {
                    best = Some((vec![a, b, c], e.objective));
                }
            }
        }
    }
    best.unwrap()
}

fn settings(budget: usize, seed: u64) -> SearchSettings {
    SearchSettings {
        budget,
        seed,
        population: 24,
    }
}

/// Runs a search of `sizes` with `f`, checking on the way that no configuration is
/// evaluated twice, that batches are in range and that the budget holds.
fn run(sizes: &[usize], s: SearchSettings, f: impl Fn(&[usize]) -> Evaluation) -> SearchResult {
    let mut asked: Vec<Choice> = Vec::new();
    let mut evaluate = |batch: &[Choice]| {
        assert!(!batch.is_empty() && batch.len() <= BATCH.max(s.population * 2));
        for c in batch {
            assert_eq!(c.len(), sizes.len());
            assert!(
                c.iter().zip(sizes).all(|(&v, &n)| v < n),
                "{c:?} out of range"
            );
        }
        asked.extend(batch.iter().cloned());
        batch.iter().map(|c| f(c)).collect()
    };
    let result = search(sizes, s, &mut evaluate);
    let distinct: BTreeSet<&Choice> = asked.iter().collect();
    assert_eq!(
        distinct.len(),
        asked.len(),
        "a configuration was evaluated twice"
    );
    assert!(
        asked.len() <= s.budget,
        "{} evaluations over a budget of {}",
        asked.len(),
        s.budget
    );
    let recorded: Vec<Choice> = result.evaluated.iter().map(|c| c.choice.clone()).collect();
    assert_eq!(recorded, asked, "evaluated lists every evaluation in order");
    result
}

#[test]
fn the_synthetic_optimum_is_not_trivial() {
    let (choice, cost) = brute_force();
    assert_eq!((choice, cost), (vec![18, 18, 2], 107.0));
    let cheaper_infeasible = (0..2700).filter(|i| {
        let e = score(&[i / 90, i / 3 % 30, i % 3]);
        !e.feasible() && e.objective < cost
    });
    assert!(cheaper_infeasible.count() > 100);
}

#[test]
fn exhaustive_search_walks_the_grid_and_finds_the_optimum() {
    let result = run(&SIZES, settings(2700, 1), score);
    assert_eq!(result.method, Method::Exhaustive);
    assert_eq!(result.evaluated.len(), 2700);
    assert_eq!(result.evaluated[0].choice, vec![0, 0, 0]);
    assert_eq!(result.evaluated[1].choice, vec![0, 0, 1]);
    assert_eq!(result.evaluated[3].choice, vec![0, 1, 0]);
    assert_eq!(result.evaluated[2699].choice, vec![29, 29, 2]);
    let (choice, cost) = brute_force();
    let best = &result.evaluated[result.best.unwrap()];
    assert_eq!((&best.choice, best.evaluation.objective), (&choice, cost));
}

#[test]
fn genetic_search_finds_the_optimum_with_a_ninth_of_the_space() {
    let (_, cost) = brute_force();
    for seed in 1..=8 {
        let result = run(&SIZES, settings(300, seed), score);
        assert_eq!(result.method, Method::Genetic);
        let best = &result.evaluated[result.best.unwrap()];
        assert!(best.evaluation.feasible());
        assert_eq!(
            best.evaluation.objective, cost,
            "seed {seed}: {:?}",
            best.choice
        );
    }
}

#[test]
fn the_same_seed_gives_the_same_result() {
    let a = run(&SIZES, settings(300, 42), score);
    let b = run(&SIZES, settings(300, 42), score);
    assert_eq!(a, b);
    let json = serde_json::to_string(&a).unwrap();
    assert!(json.contains("\"method\":\"genetic\"") && json.contains("\"sloValue\""));
    let c = run(&SIZES, settings(300, 43), score);
    assert_ne!(a.evaluated, c.evaluated, "the seed matters");
}

#[test]
fn the_budget_holds_and_the_corners_come_first() {
    for budget in [0, 1, 2, 5, 23, 24, 25, 100, 2699] {
        let result = run(&SIZES, settings(budget, 7), score);
        assert!(result.evaluated.len() <= budget);
        assert_eq!(result.best.is_some(), budget > 0);
        if budget >= 2 {
            assert_eq!(result.evaluated[0].choice, vec![29, 29, 2]);
            assert_eq!(result.evaluated[1].choice, vec![0, 0, 0]);
        }
        if budget == 100 {
            // Most of the budget is used: the search does not give up early.
            assert!(result.evaluated.len() * 10 >= budget * 9, "{budget}");
        }
    }
}

#[test]
fn best_breaks_ties_by_evaluation_order() {
    let flat = |c: &[usize]| Evaluation {
        objective: if c[0] >= 2 { 1.0 } else { 5.0 },
        slo_value: None,
        violation: 0.0,
    };
    let result = run(&[4, 3], settings(12, 0), flat);
    assert_eq!(result.best, Some(6)); // [2, 0]
    assert!(result.pareto.is_empty(), "no slo_value, no front");
}

#[test]
fn pareto_front_excludes_dominated_points_and_sorts_by_objective() {
    // (objective, slo_value) per configuration of one decision.
    let points: [(f64, Option<f64>); 9] = [
        (5.0, Some(50.0)), // 0: front
        (3.0, Some(70.0)), // 1: front
        (4.0, Some(80.0)), // 2: dominated by 1
        (9.0, Some(20.0)), // 3: front
        (1.0, None),       // 4: not measured, not on the front
        (5.0, Some(55.0)), // 5: same objective as 0, worse slo: dominated
        (3.0, Some(70.0)), // 6: equal to 1: represented by 1
        (7.0, Some(50.0)), // 7: same slo as 0, costlier: dominated
        (2.0, Some(95.0)), // 8: front (the cheapest measured)
    ];
    let table = |c: &[usize]| {
        let (objective, slo_value) = points[c[0]];
        Evaluation {
            objective,
            slo_value,
            violation: 0.0,
        }
    };
    let result = run(&[points.len()], settings(100, 0), table);
    assert_eq!(result.method, Method::Exhaustive);
    assert_eq!(result.pareto, vec![8, 1, 0, 3]);
    assert_eq!(result.best, Some(4));
}

#[test]
fn without_a_feasible_configuration_the_least_violating_is_best() {
    // Violation is least at (17, 4); objective is lower elsewhere but never feasible.
    let hopeless = |c: &[usize]| {
        let (a, b) = (c[0] as f64, c[1] as f64);
        Evaluation {
            objective: a + b,
            slo_value: Some(100.0),
            violation: 1.0 + (a - 17.0).abs() + (b - 4.0).abs(),
        }
    };
    for budget in [1000, 120] {
        let result = run(&[25, 25], settings(budget, 3), hopeless);
        let best = &result.evaluated[result.best.unwrap()];
        assert!(!best.evaluation.feasible());
        assert_eq!(
            best.choice,
            vec![17, 4],
            "budget {budget} ({:?})",
            result.method
        );
    }
}

#[test]
fn degenerate_spaces() {
    let one = |_: &[usize]| Evaluation {
        objective: 1.0,
        slo_value: Some(1.0),
        violation: 0.0,
    };
    let empty = run(&[3, 0, 2], settings(10, 0), one);
    assert!(empty.evaluated.is_empty() && empty.best.is_none() && empty.pareto.is_empty());
    let nothing_to_decide = run(&[], settings(10, 0), one);
    assert_eq!(nothing_to_decide.evaluated.len(), 1);
    assert_eq!(nothing_to_decide.best, Some(0));
    // Larger than usize: genetic, and still within budget.
    let huge = run(&[usize::MAX, usize::MAX, 2], settings(50, 0), one);
    assert_eq!(huge.method, Method::Genetic);
    assert_eq!(
        huge.evaluated[0].choice,
        vec![usize::MAX - 1, usize::MAX - 1, 1]
    );
    // A space smaller than the population but larger than the budget.
    let small = run(&[2, 3], settings(5, 0), one);
    assert_eq!((small.method, small.evaluated.len()), (Method::Genetic, 5));
}

#[test]
fn nan_scores_rank_last() {
    let odd = |c: &[usize]| Evaluation {
        objective: if c[0] == 0 { f64::NAN } else { c[0] as f64 },
        slo_value: Some(if c[0] == 1 { f64::NAN } else { 10.0 }),
        violation: if c[0] == 2 { f64::NAN } else { 0.0 },
    };
    let result = run(&[5], settings(5, 0), odd);
    assert_eq!(result.best, Some(1));
    assert_eq!(result.pareto, vec![2]); // infeasible, but measured
}
