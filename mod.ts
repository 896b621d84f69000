/**
 * torchzero for Deno: train neural networks without backpropagation, with every tensor
 * operation a WGSL compute shader on Deno's WebGPU.
 *
 * A model's parameters live in one flat GPU buffer with several rows; every layer evaluates
 * all active rows in one dispatch, so a derivative-free optimizer evaluates all its candidates
 * in one forward pass and never waits for the GPU inside a step.
 *
 * @example
 * ```ts ignore
 * import {
 *   AdamW, crossEntropy, initGpu, mnistCnn, RandomGrad, tensor,
 * } from "@torchzero/torchzero";
 *
 * await initGpu();
 * const model = mnistCnn();
 * const params = model.parameters();
 * const opt = new RandomGrad(params, { magn: 1e-5, opt: new AdamW(params, { lr: 1e-3 }) });
 * const x = tensor(images, [32, 1, 28, 28]);
 * const y = tensor(labels, [32]);
 * const closure = () => {
 *   opt.zeroGrad();
 *   return crossEntropy(model.forward(x), y, { reduction: "none" });
 * };
 * const loss = opt.step(closure); // one forward pass of 2 parameter rows
 * console.log(await loss.item());
 * ```
 *
 * @module
 */

// Runtime
export {
  type AdapterDescription,
  type BufferRange,
  currentGpu,
  destroyGpu,
  Gpu,
  type GpuOptions,
  initGpu,
  type KernelVariant,
  NO_ADAPTER_HELP,
  type StorageBinding,
} from "./src/gpu/device.ts";
export type {
  BindingKind,
  CompiledKernel,
  Constants,
  KernelSpec,
  ParamType,
  ParamValues,
} from "./src/gpu/kernel.ts";
export type { BufferPool } from "./src/gpu/pool.ts";
export type { SoftwareThreads } from "./src/gpu/software_threads.ts";
export { diffStats, type Stats, type StatsSnapshot } from "./src/gpu/stats.ts";
export { type Shape, Tensor, tensor, type TensorOptions, tidy } from "./src/tensor.ts";
export {
  Generator,
  philox,
  randomBitsAt,
  type RandomCoords,
  randomNormalAt,
  randomRademacherAt,
  randomUniformAt,
} from "./src/rng.ts";

// Ops
export {
  abs,
  add,
  axpy,
  broadcastRow,
  clamp,
  copy,
  copyRows,
  fill,
  mul,
  relu,
  scale,
  sign,
  where,
  zeros,
} from "./src/ops/elementwise.ts";
export { linear, type LinearOptions, matmul, type MatmulOptions } from "./src/ops/matmul.ts";
export { conv2d, type Conv2dOptions } from "./src/ops/conv2d.ts";
export { avgPool2d, maxPool2d, type MaxPool2dOptions, type Pool2dOptions } from "./src/ops/pool.ts";
export { argmax, max, mean, type ReduceOptions, sum } from "./src/ops/reduce.ts";
export { sumSquares } from "./src/ops/norm.ts";
export {
  accuracyCount,
  crossEntropy,
  logSoftmax,
  type LossOptions,
  mseLoss,
  type Reduction,
  softmax,
} from "./src/ops/loss.ts";
export {
  fillNormal,
  fillRademacher,
  fillRandomBits,
  fillUniform,
  type NewTensorOptions,
  type NormalOptions,
  type RademacherOptions,
  RANDOM_WGSL,
  randomBits,
  randomNormal,
  type RandomOptions,
  randomRademacher,
  randomUniform,
  type UniformOptions,
} from "./src/ops/random.ts";

// Modules
export { Module } from "./src/nn/module.ts";
export { Parameter } from "./src/params/flat.ts";
export { type ActiveRows, FlatParameters } from "./src/params/flat.ts";
export { Linear } from "./src/nn/linear.ts";
export { Conv2d, type Conv2dOptions as Conv2dLayerOptions } from "./src/nn/conv2d.ts";
export {
  AvgPool2d,
  MaxPool2d,
  type Pool2d,
  type Pool2dOptions as Pool2dLayerOptions,
} from "./src/nn/pool.ts";
export { ReLU, Softmax } from "./src/nn/activation.ts";
export { Flatten } from "./src/nn/flatten.ts";
export { Sequential } from "./src/nn/sequential.ts";
export { mnistCnn } from "./src/nn/models.ts";
export { type DifferentiableLoss, lossAndGrad } from "./src/nn/grad.ts";
export { manualSeed } from "./src/nn/init.ts";

// Optimizers: the shared base and its two kinds
export {
  type BindOptions,
  type Closure,
  Optimizer,
  type OptimizerStateDict,
  type ParamGroup,
  type ParamsInput,
  type ParamStateDict,
  type Segment,
} from "./src/optim/optimizer.ts";
export { FirstOrderOptimizer } from "./src/optim/first_order/first_order.ts";
export {
  Population,
  type PopulationBind,
  PopulationOptimizer,
} from "./src/optim/population/population_optimizer.ts";

// The population protocol
export {
  layoutRows,
  type Losses,
  type MemberRows,
  NO_ROWS,
  type PopulationMember,
  type RowBlock,
  type RowNeeds,
  rowsNeeded,
  rowsOf,
  splitRows,
  sumNeeds,
} from "./src/optim/population/protocol.ts";
export { StateLayout } from "./src/optim/population/state_layout.ts";
export {
  type NoiseCoords,
  type Sampler,
  type SamplerDraw,
  type SamplerFn,
  type Span,
  type StoredNoise,
} from "./src/optim/population/noise.ts";

// First-order optimizers and schedulers
export { SGD, type SGDOptions } from "./src/optim/first_order/sgd.ts";
export { Adam, type AdamOptions, AdamW } from "./src/optim/first_order/adam.ts";
export { Lion, type LionOptions } from "./src/optim/first_order/lion.ts";
export { ClipUp, type ClipUpOptions } from "./src/optim/first_order/clipup.ts";
export * from "./src/optim/first_order/lr_scheduler.ts";

// Zeroth-order estimators, searches and walks
export {
  type EstimateTerms,
  type EstimatorConfig,
  GradientEstimator,
} from "./src/optim/zeroth_order/_estimator.ts";
export {
  RandomGrad,
  type RandomGradConfig,
  type RandomGradOptions,
} from "./src/optim/zeroth_order/random_grad.ts";
export {
  RandomBestGrad,
  type RandomBestGradConfig,
  type RandomBestGradOptions,
} from "./src/optim/zeroth_order/random_best_grad.ts";
export {
  SPSA,
  type SPSAConfig,
  type SpsaFormula,
  type SPSAOptions,
} from "./src/optim/zeroth_order/spsa.ts";
export { Search, type SearchConfig } from "./src/optim/zeroth_order/_search.ts";
export {
  RandomSearch,
  type RandomSearchOptions,
  RandomShrinkingSearch,
  type RandomShrinkingSearchOptions,
} from "./src/optim/zeroth_order/random_search.ts";
export { GridSearch, type GridSearchOptions } from "./src/optim/zeroth_order/grid_search.ts";
export {
  SequentialSearch,
  type SequentialSearchOptions,
} from "./src/optim/zeroth_order/sequential_search.ts";
export {
  RandomWalk,
  type RandomWalkConfig,
  type RandomWalkOptions,
} from "./src/optim/zeroth_order/random_walk.ts";

// Evolution strategies
export {
  type BaseFields,
  defaultPopulation,
  EvolutionStrategy,
  numelOf,
  paramsOf,
  type StrategyConfig,
} from "./src/optim/es/_es.ts";
export { OpenAIES, type OpenAIESOptions } from "./src/optim/es/openai_es.ts";
export { PGPE, type PGPEOptions } from "./src/optim/es/pgpe.ts";
export { SNES, type SNESOptions } from "./src/optim/es/snes.ts";
export {
  type SepCMAConstants,
  sepCmaConstants,
  SepCMAES,
  type SepCMAESFields,
  type SepCMAESOptions,
} from "./src/optim/es/sep_cma_es.ts";
export {
  type CMAConstants,
  cmaConstants,
  CMAES,
  CMAES_MAX_DIMENSION,
  type CMAESOptions,
} from "./src/optim/es/cma_es.ts";
export {
  centeredRanks,
  type CmaWeights,
  cmaWeights,
  nesUtilities,
} from "./src/optim/es/utilities.ts";

// Black-box minimization of host functions
export {
  type BatchObjective,
  type Bounds,
  type GenerationInfo,
  minimize,
  MinimizeError,
  type MinimizeMethod,
  type MinimizeOptions,
  type MinimizeResult,
  type Objective,
  type StopReason,
} from "./src/optim/minimize.ts";

// Population composites
export {
  type GradMode,
  type StepMode,
  UpdateToGrad,
  type UpdateToGradOptions,
} from "./src/optim/population/update_to_grad.ts";
export { GradChain, type GradChainOptions } from "./src/optim/population/grad_chain.ts";
export {
  type CrossoverWeights,
  type SwarmInspection,
  SwarmOfOptimizers,
  type SwarmOptions,
} from "./src/optim/population/swarm.ts";

// Deprecated names of 0.1
export {
  type Evaluation,
  type RowPlan,
  type ZerothOrderBind,
  ZerothOrderOptimizer,
} from "./src/optim/deprecated.ts";

// Data
export { encodeIdx, gunzip, type IdxArray, type IdxType, parseIdx } from "./src/data/idx.ts";
export {
  type DatasetSplits,
  type IdxFiles,
  type ImageDataset,
  imageDataset,
  loadIdxDirectory,
  parseSplits,
  type SplitOptions,
} from "./src/data/dataset.ts";
export {
  type Batch,
  DataLoader,
  type LoaderOptions,
  MNIST_MEAN,
  MNIST_STD,
} from "./src/data/loader.ts";

// Checkpoints
export {
  CHECKPOINT_VERSION,
  type CheckpointContents,
  CheckpointError,
  type CheckpointInfo,
  encodeCheckpoint,
  loadCheckpoint,
  loadCheckpointBytes,
  type LoadCheckpointOptions,
  type OptimizerDescription,
  readCheckpoint,
  saveCheckpoint,
} from "./src/io/checkpoint.ts";
export {
  decodeSafetensors,
  encodeSafetensors,
  type NamedTensor,
  type Safetensors,
  SAFETENSORS_MAX_HEADER,
  type TensorValues,
} from "./src/io/safetensors.ts";
export { writeFileAtomic } from "./src/io/atomic.ts";
export {
  PLOT_COLORS,
  type PlotAxis,
  type PlotOptions,
  type PlotPanel,
  type PlotSeries,
  svgPlot,
} from "./src/io/plot.ts";
export { PACKAGE, VERSION } from "./src/version.ts";
