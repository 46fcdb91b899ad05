// Every layer type in one include.
#pragma once
#include "layers/activation.h"
#include "layers/batch_norm.h"
#include "layers/channel_analysis.h"
#include "layers/channel_graph.h"
#include "layers/conv2d.h"
#include "layers/dropout.h"
#include "layers/init.h"
#include "layers/linear.h"
#include "layers/module.h"
#include "layers/pooling.h"
#include "layers/sequential.h"
#include "layers/shrink.h"
