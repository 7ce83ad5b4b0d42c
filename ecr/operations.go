package ecr

// operations lists the operations berth implements. The rest of the API
// (lifecycle, scanning, replication, pull-through cache, creation templates,
// signing) arrives with its own work and answers UnknownOperationException
// until then — never a fake success.
func (h *Handler) operations() map[string]opFunc {
	return map[string]opFunc{
		"CreateRepository":                  op(h.CreateRepository),
		"DescribeRepositories":              op(h.DescribeRepositories),
		"DeleteRepository":                  op(h.DeleteRepository),
		"PutImageTagMutability":             op(h.PutImageTagMutability),
		"PutImageScanningConfiguration":     op(h.PutImageScanningConfiguration),
		"PutImage":                          op(h.PutImage),
		"BatchGetImage":                     op(h.BatchGetImage),
		"DescribeImages":                    op(h.DescribeImages),
		"ListImages":                        op(h.ListImages),
		"BatchDeleteImage":                  op(h.BatchDeleteImage),
		"UpdateImageStorageClass":           op(h.UpdateImageStorageClass),
		"ListImageReferrers":                op(h.ListImageReferrers),
		"BatchCheckLayerAvailability":       op(h.BatchCheckLayerAvailability),
		"InitiateLayerUpload":               op(h.InitiateLayerUpload),
		"UploadLayerPart":                   op(h.UploadLayerPart),
		"CompleteLayerUpload":               op(h.CompleteLayerUpload),
		"GetDownloadUrlForLayer":            op(h.GetDownloadUrlForLayer),
		"GetAuthorizationToken":             op(h.GetAuthorizationToken),
		"TagResource":                       op(h.TagResource),
		"UntagResource":                     op(h.UntagResource),
		"ListTagsForResource":               op(h.ListTagsForResource),
		"SetRepositoryPolicy":               op(h.SetRepositoryPolicy),
		"GetRepositoryPolicy":               op(h.GetRepositoryPolicy),
		"DeleteRepositoryPolicy":            op(h.DeleteRepositoryPolicy),
		"PutRegistryPolicy":                 op(h.PutRegistryPolicy),
		"GetRegistryPolicy":                 op(h.GetRegistryPolicy),
		"DeleteRegistryPolicy":              op(h.DeleteRegistryPolicy),
		"DescribeRegistry":                  op(h.DescribeRegistry),
		"GetAccountSetting":                 op(h.GetAccountSetting),
		"PutAccountSetting":                 op(h.PutAccountSetting),
		"RegisterPullTimeUpdateExclusion":   op(h.RegisterPullTimeUpdateExclusion),
		"DeregisterPullTimeUpdateExclusion": op(h.DeregisterPullTimeUpdateExclusion),
		"ListPullTimeUpdateExclusions":      op(h.ListPullTimeUpdateExclusions),
	}
}
