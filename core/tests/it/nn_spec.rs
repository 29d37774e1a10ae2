//! 004's layer-list architecture and hyperparameters: parsing, shape inference, every validation error.

use modelrunner::nn::{Architecture, Hyperparams, Loss, ModelDefinition, Optimizer};
use serde_json::{Value, json};

/// 004's example architecture, exactly as the document writes it (one file, shared with the Python
/// tests and the benchmark).
pub fn example_architecture() -> Value {
    serde_json::from_str(include_str!("../../examples/mnist_004_architecture.json")).expect("valid JSON")
}

pub fn example_hyperparams() -> Value {
    json!({
        "epochs": 5, "batch_size": 64, "optimizer": {"type": "sgd", "lr": 0.1, "momentum": 0.0},
        "loss": "cross_entropy", "seed": 42, "train_split": 0.9, "shuffle": true, "max_samples": 4096
    })
}

fn with_layer(index: usize, layer: Value) -> Value {
    let mut a = example_architecture();
    a["layers"][index] = layer;
    a
}

fn arch_error(a: &Value) -> (String, String) {
    let e = Architecture::parse(a).expect_err("should be refused");
    (e.field().unwrap_or_default().to_owned(), e.to_string())
}

#[test]
fn the_004_example_parses_with_pytorch_shapes_and_parameter_counts() {
    let (arch, shapes) = Architecture::parse(&example_architecture()).unwrap();
    assert_eq!(arch.input_shape, vec![1, 28, 28]);
    let outs: Vec<Vec<u64>> = shapes.layers.iter().map(|l| l.output_shape.clone()).collect();
    assert_eq!(outs[0], vec![32, 28, 28]);
    assert_eq!(outs[2], vec![32, 14, 14]);
    assert_eq!(outs[5], vec![64, 7, 7]);
    assert_eq!(outs[6], vec![3136]);
    assert_eq!(shapes.output_shape, vec![10]);
    // conv 1·32·3·3+32, conv 32·64·3·3+64, linear 3136·128+128, linear 128·10+10 (as torch counts them)
    assert_eq!(shapes.parameters, 320 + 18_496 + 401_536 + 1_290);
    let def = ModelDefinition::parse(&example_architecture(), Some(&example_hyperparams())).unwrap();
    assert_eq!(def.hyperparams.optimizer, Optimizer::Sgd { lr: 0.1, momentum: 0.0, weight_decay: 0.0 });
    assert_eq!((def.hyperparams.seed, def.hyperparams.max_samples, def.hyperparams.loss), (Some(42), Some(4096), Loss::CrossEntropy));
}

#[test]
fn a_size_mismatch_names_the_layer_the_expected_and_the_given_size() {
    let (field, msg) = arch_error(&with_layer(7, json!({"type": "linear", "in": 3000, "out": 128})));
    assert_eq!(field, "architecture.layers[7].in");
    assert!(msg.contains("expected 3136") && msg.contains("got 3000") && msg.contains("layer 6 (flatten)"), "{msg}");
    let (field, msg) = arch_error(&with_layer(3, json!({"type": "conv2d", "in_channels": 16, "out_channels": 64, "kernel_size": 3})));
    assert_eq!(field, "architecture.layers[3].in_channels");
    assert!(msg.contains("expected 32") && msg.contains("got 16"), "{msg}");
}

#[test]
fn every_architecture_error_names_its_field() {
    let cases: Vec<(Value, &str)> = vec![
        (with_layer(1, json!({"type": "swish"})), "architecture.layers[1].type"),
        (with_layer(1, json!({"type": "relu", "inplace": true})), "architecture.layers[1].inplace"),
        (with_layer(1, json!({"kind": "relu"})), "architecture.layers[1].type"),
        (with_layer(1, json!("relu")), "architecture.layers[1]"),
        (with_layer(0, json!({"type": "conv2d", "in_channels": 1, "out_channels": 32})), "architecture.layers[0].kernel_size"),
        (
            with_layer(0, json!({"type": "conv2d", "in_channels": 1, "out_channels": 0, "kernel_size": 3})),
            "architecture.layers[0].out_channels",
        ),
        (
            with_layer(0, json!({"type": "conv2d", "in_channels": 1, "out_channels": 32, "kernel_size": [3, 3, 3]})),
            "architecture.layers[0].kernel_size",
        ),
        (
            with_layer(
                0,
                json!({"type": "conv2d", "in_channels": 1, "out_channels": 32, "kernel_size": 3, "stride": 2, "padding": "same"}),
            ),
            "architecture.layers[0].padding",
        ),
        (
            with_layer(0, json!({"type": "conv2d", "in_channels": 1, "out_channels": 32, "kernel_size": 3, "padding": "full"})),
            "architecture.layers[0].padding",
        ),
        (with_layer(0, json!({"type": "conv2d", "in_channels": 1, "out_channels": 32, "kernel_size": 40})), "architecture.layers[0]"),
        (with_layer(2, json!({"type": "maxpool2d", "kernel_size": 2, "padding": 2})), "architecture.layers[2].padding"),
        (with_layer(2, json!({"type": "maxpool2d"})), "architecture.layers[2].kernel_size"),
        (with_layer(6, json!({"type": "relu"})), "architecture.layers[7]"),
        (with_layer(9, json!({"type": "dropout", "p": 1.0})), "architecture.layers[9].p"),
        (with_layer(9, json!({"type": "dropout", "p": "half"})), "architecture.layers[9].p"),
        (with_layer(11, json!({"type": "softmax", "dim": 0})), "architecture.layers[11].dim"),
        (with_layer(1, json!({"type": "batchnorm2d", "num_features": 16})), "architecture.layers[1].num_features"),
        (with_layer(8, json!({"type": "layernorm", "normalized_shape": 64})), "architecture.layers[8].normalized_shape"),
        (with_layer(8, json!({"type": "embedding", "num_embeddings": 10, "embedding_dim": 4})), "architecture.layers[8]"),
        (
            json!({"input_size": 785, "input_channels": 1, "input_height": 28, "input_width": 28, "layers": [{"type": "flatten"}]}),
            "architecture.input_size",
        ),
        (json!({"input_channels": 1, "input_width": 28, "layers": [{"type": "flatten"}]}), "architecture.input_height"),
        (json!({"layers": [{"type": "flatten"}]}), "architecture.input_channels"),
        (json!({"input_size": 4, "layers": []}), "architecture.layers"),
        (json!({"input_size": 4}), "architecture.layers"),
        (json!({"input_size": 4, "layers": {"type": "flatten"}}), "architecture.layers"),
        (json!({"input_size": 0, "layers": [{"type": "flatten"}]}), "architecture.input_size"),
        (json!({"input_size": 4, "layers": [{"type": "flatten"}], "name": "x"}), "architecture.name"),
        (json!([1, 2]), "architecture"),
    ];
    for (a, want) in cases {
        let (field, msg) = arch_error(&a);
        assert_eq!(field, want, "{msg}");
    }
}

#[test]
fn the_other_layer_types_infer_their_shapes() {
    let a = json!({
        "input_channels": 3, "input_height": 32, "input_width": 32,
        "layers": [
            {"type": "conv2d", "in_channels": 3, "out_channels": 8, "kernel_size": [5, 3], "stride": [1, 1], "padding": [2, 1], "bias": false},
            {"type": "batchnorm2d", "num_features": 8},
            {"type": "gelu"},
            {"type": "avgpool2d", "kernel_size": 2},
            {"type": "adaptive_avgpool2d", "output_size": [4, 2]},
            {"type": "flatten"},
            {"type": "layernorm", "normalized_shape": 64},
            {"type": "linear", "in": 64, "out": 1},
            {"type": "tanh"},
            {"type": "sigmoid"}
        ]
    });
    let (_, shapes) = Architecture::parse(&a).unwrap();
    let outs: Vec<Vec<u64>> = shapes.layers.iter().map(|l| l.output_shape.clone()).collect();
    assert_eq!(outs[0], vec![8, 32, 32]);
    assert_eq!(outs[3], vec![8, 16, 16], "pool stride defaults to its kernel");
    assert_eq!(outs[4], vec![8, 4, 2]);
    assert_eq!(shapes.output_shape, vec![1]);
    assert_eq!(shapes.layers[0].parameters, 8 * 3 * 5 * 3);
    let text = json!({"input_size": 16, "layers": [
        {"type": "embedding", "num_embeddings": 100, "embedding_dim": 8},
        {"type": "layernorm", "normalized_shape": 8},
        {"type": "linear", "in": 8, "out": 2}
    ]});
    let (_, shapes) = Architecture::parse(&text).unwrap();
    assert_eq!(shapes.output_shape, vec![16, 2]);
    // Cross-entropy needs class scores; this model outputs a sequence.
    let e = ModelDefinition::parse(&text, None).unwrap_err();
    assert_eq!(e.field(), Some("hyperparams.loss"));
    assert!(ModelDefinition::parse(&text, Some(&json!({"loss": "mse"}))).is_ok());
}

#[test]
fn every_hyperparameter_error_names_its_field() {
    assert_eq!(Hyperparams::parse(&json!({})).unwrap(), Hyperparams::default());
    let adam = Hyperparams::parse(&json!({"optimizer": "adam"})).unwrap();
    assert!(matches!(adam.optimizer, Optimizer::Adam { lr, .. } if lr == 1e-3));
    let adamw = Hyperparams::parse(&json!({"optimizer": {"type": "adamw", "lr": 0.002, "weight_decay": 0.05}})).unwrap();
    assert!(matches!(adamw.optimizer, Optimizer::Adamw { weight_decay, .. } if weight_decay == 0.05));
    let cases: Vec<(Value, &str)> = vec![
        (json!({"epochs": 0}), "hyperparams.epochs"),
        (json!({"epochs": 2.5}), "hyperparams.epochs"),
        (json!({"batch_size": 0}), "hyperparams.batch_size"),
        (json!({"batch_size": "64"}), "hyperparams.batch_size"),
        (json!({"optimizer": {"type": "rmsprop"}}), "hyperparams.optimizer.type"),
        (json!({"optimizer": "lion"}), "hyperparams.optimizer.type"),
        (json!({"optimizer": {"lr": 0.1}}), "hyperparams.optimizer.type"),
        (json!({"optimizer": {"type": "sgd", "lr": 0}}), "hyperparams.optimizer.lr"),
        (json!({"optimizer": {"type": "sgd", "lr": -0.1}}), "hyperparams.optimizer.lr"),
        (json!({"optimizer": {"type": "sgd", "momentum": 1.0}}), "hyperparams.optimizer.momentum"),
        (json!({"optimizer": {"type": "sgd", "beta1": 0.9}}), "hyperparams.optimizer.beta1"),
        (json!({"optimizer": {"type": "adam", "eps": 0}}), "hyperparams.optimizer.eps"),
        (json!({"optimizer": {"type": "adam", "weight_decay": 2}}), "hyperparams.optimizer.weight_decay"),
        (json!({"optimizer": 3}), "hyperparams.optimizer"),
        (json!({"loss": "hinge"}), "hyperparams.loss"),
        (json!({"seed": -1}), "hyperparams.seed"),
        (json!({"train_split": 1.0}), "hyperparams.train_split"),
        (json!({"train_split": 0}), "hyperparams.train_split"),
        (json!({"shuffle": "yes"}), "hyperparams.shuffle"),
        (json!({"max_samples": 1}), "hyperparams.max_samples"),
        (json!({"learning_rate": 0.1}), "hyperparams.learning_rate"),
        (json!([]), "hyperparams"),
    ];
    for (h, want) in cases {
        let e = Hyperparams::parse(&h).expect_err("should be refused");
        assert_eq!(e.field(), Some(want), "{e}");
    }
}

#[test]
fn composite_layers_infer_shapes_and_name_nested_fields() {
    let conv = |i: u64, o: u64, k: u64, extra: Value| {
        let mut c = json!({"type": "conv2d", "in_channels": i, "out_channels": o, "kernel_size": k, "padding": k / 2});
        c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        c
    };
    let arch = |layers: Value| json!({"input_channels": 4, "input_height": 8, "input_width": 8, "layers": layers});
    let good = arch(json!([
        {"type": "residual", "layers": [conv(4, 4, 3, json!({})), {"type": "silu"}]},
        {"type": "residual", "layers": [conv(4, 8, 3, json!({"stride": 2}))], "shortcut": [conv(4, 8, 1, json!({"stride": 2}))]},
        {"type": "concat", "branches": [[conv(8, 2, 1, json!({}))], [conv(8, 8, 3, json!({"groups": 8})), conv(8, 3, 1, json!({}))]]},
        {"type": "squeeze_excite", "channels": 5, "reduced": 2},
    ]));
    let (_, shapes) = Architecture::parse(&good).unwrap();
    let outs: Vec<Vec<u64>> = shapes.layers.iter().map(|l| l.output_shape.clone()).collect();
    assert_eq!(outs, [vec![4, 8, 8], vec![8, 4, 4], vec![5, 4, 4], vec![5, 4, 4]]);
    assert_eq!(shapes.layers[0].parameters, 4 * 4 * 9 + 4);
    assert_eq!(shapes.layers[2].parameters, (8 * 2 + 2) + (8 * 9 + 8) + (8 * 3 + 3), "a depthwise kernel has one input channel");
    assert_eq!(shapes.layers[3].parameters, 5 * 2 + 2 + 2 * 5 + 5);

    let cases = [
        (json!([{"type": "residual", "layers": [conv(4, 8, 3, json!({}))]}]), "architecture.layers[0]", "identity shortcut"),
        (json!([{"type": "residual", "layers": [conv(3, 4, 3, json!({}))]}]), "architecture.layers[0].layers[0].in_channels", "expected 4"),
        (json!([{"type": "residual", "layers": []}]), "architecture.layers[0].layers", "at least one"),
        (json!([{"type": "residual"}]), "architecture.layers[0].layers", "required"),
        (json!([{"type": "concat", "branches": [[conv(4, 2, 1, json!({}))]]}]), "architecture.layers[0].branches", "at least two"),
        (
            json!([{"type": "concat", "branches": [[conv(4, 2, 1, json!({}))], [conv(4, 2, 3, json!({"stride": 2}))]]}]),
            "architecture.layers[0].branches[1]",
            "cannot join",
        ),
        (
            json!([{"type": "concat", "branches": [[{"type": "relu"}], [{"type": "nope"}]]}]),
            "architecture.layers[0].branches[1][0].type",
            "unknown layer type",
        ),
        (json!([conv(4, 6, 3, json!({"groups": 4}))]), "architecture.layers[0].groups", "must divide"),
        (json!([{"type": "squeeze_excite", "channels": 3, "reduced": 1}]), "architecture.layers[0].channels", "expected 4"),
        (
            json!([{"type": "flatten"}, {"type": "squeeze_excite", "channels": 256, "reduced": 1}]),
            "architecture.layers[1]",
            "[channels, height, width]",
        ),
    ];
    for (layers, field, reason) in cases {
        let (f, msg) = arch_error(&arch(layers.clone()));
        assert_eq!(f, field, "{layers}: {msg}");
        assert!(msg.contains(reason), "{layers}: {msg}");
    }
}
