package ecr

// operations lists the operations berth implements: every one of the model
// (the pull-through cache's when berth has one). An operation missing here
// would be validated and authorized like any other and answered
// UnknownOperationException — never a fake success.
func (h *Handler) operations() map[string]opFunc {
	ops := map[string]opFunc{
		"CreateRepository":                  op(h.createRepository),
		"DescribeRepositories":              op(h.describeRepositories),
		"DeleteRepository":                  op(h.deleteRepository),
		"PutImageTagMutability":             op(h.putImageTagMutability),
		"PutImageScanningConfiguration":     op(h.putImageScanningConfiguration),
		"PutImage":                          op(h.putImage),
		"BatchGetImage":                     op(h.batchGetImage),
		"DescribeImages":                    op(h.describeImages),
		"ListImages":                        op(h.listImages),
		"BatchDeleteImage":                  op(h.batchDeleteImage),
		"UpdateImageStorageClass":           op(h.updateImageStorageClass),
		"ListImageReferrers":                op(h.listImageReferrers),
		"BatchCheckLayerAvailability":       op(h.batchCheckLayerAvailability),
		"InitiateLayerUpload":               op(h.initiateLayerUpload),
		"UploadLayerPart":                   op(h.uploadLayerPart),
		"CompleteLayerUpload":               op(h.completeLayerUpload),
		"GetDownloadUrlForLayer":            op(h.getDownloadUrlForLayer),
		"GetAuthorizationToken":             op(h.getAuthorizationToken),
		"TagResource":                       op(h.tagResource),
		"UntagResource":                     op(h.untagResource),
		"ListTagsForResource":               op(h.listTagsForResource),
		"SetRepositoryPolicy":               op(h.setRepositoryPolicy),
		"GetRepositoryPolicy":               op(h.getRepositoryPolicy),
		"DeleteRepositoryPolicy":            op(h.deleteRepositoryPolicy),
		"PutRegistryPolicy":                 op(h.putRegistryPolicy),
		"GetRegistryPolicy":                 op(h.getRegistryPolicy),
		"DeleteRegistryPolicy":              op(h.deleteRegistryPolicy),
		"DescribeRegistry":                  op(h.describeRegistry),
		"GetAccountSetting":                 op(h.getAccountSetting),
		"PutAccountSetting":                 op(h.putAccountSetting),
		"RegisterPullTimeUpdateExclusion":   op(h.registerPullTimeUpdateExclusion),
		"DeregisterPullTimeUpdateExclusion": op(h.deregisterPullTimeUpdateExclusion),
		"ListPullTimeUpdateExclusions":      op(h.listPullTimeUpdateExclusions),
		"PutLifecyclePolicy":                op(h.putLifecyclePolicy),
		"GetLifecyclePolicy":                op(h.getLifecyclePolicy),
		"DeleteLifecyclePolicy":             op(h.deleteLifecyclePolicy),
		"StartLifecyclePolicyPreview":       op(h.startLifecyclePolicyPreview),
		"GetLifecyclePolicyPreview":         op(h.getLifecyclePolicyPreview),

		// Repository creation templates and replication (issue 12).
		"CreateRepositoryCreationTemplate":    op(h.createRepositoryCreationTemplate),
		"DescribeRepositoryCreationTemplates": op(h.describeRepositoryCreationTemplates),
		"UpdateRepositoryCreationTemplate":    op(h.updateRepositoryCreationTemplate),
		"DeleteRepositoryCreationTemplate":    op(h.deleteRepositoryCreationTemplate),
		"PutReplicationConfiguration":         op(h.putReplicationConfiguration),
		"DescribeImageReplicationStatus":      op(h.describeImageReplicationStatus),

		// Image scanning (ops_scanning.go).
		"StartImageScan":                          op(h.startImageScan),
		"DescribeImageScanFindings":               op(h.describeImageScanFindings),
		"GetRegistryScanningConfiguration":        op(h.getRegistryScanningConfiguration),
		"PutRegistryScanningConfiguration":        op(h.putRegistryScanningConfiguration),
		"BatchGetRepositoryScanningConfiguration": op(h.batchGetRepositoryScanningConfiguration),

		// Managed signing (issue 13).
		"PutSigningConfiguration":    op(h.putSigningConfiguration),
		"GetSigningConfiguration":    op(h.getSigningConfiguration),
		"DeleteSigningConfiguration": op(h.deleteSigningConfiguration),
		"DescribeImageSigningStatus": op(h.describeImageSigningStatus),
	}
	if h.ptc != nil { // the pull-through cache's rules, when berth has one
		ops["CreatePullThroughCacheRule"] = op(h.createPullThroughCacheRule)
		ops["DescribePullThroughCacheRules"] = op(h.describePullThroughCacheRules)
		ops["UpdatePullThroughCacheRule"] = op(h.updatePullThroughCacheRule)
		ops["DeletePullThroughCacheRule"] = op(h.deletePullThroughCacheRule)
		ops["ValidatePullThroughCacheRule"] = op(h.validatePullThroughCacheRule)
	}
	return ops
}
