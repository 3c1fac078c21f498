package h264

import "fmt"

// SPS is a parsed sequence parameter set (ITU-T H.264 7.3.2.1.1), with the
// picture size worked out and the timing of its VUI (Annex E).
type SPS struct {
	ProfileIDC uint8
	// ConstraintFlags holds constraint_set0_flag (most significant bit) to
	// constraint_set5_flag and the two reserved zero bits: the byte after
	// profile_idc.
	ConstraintFlags uint8
	LevelIDC        uint8

	SeqParameterSetID uint32
	// ChromaFormatIDC is 1 (4:2:0) unless a high profile says otherwise.
	ChromaFormatIDC         uint32
	SeparateColourPlane     bool
	BitDepthLuma            int // 8 unless a high profile says otherwise
	BitDepthChroma          int
	ScalingMatrixPresent    bool
	Log2MaxFrameNum         int // log2_max_frame_num_minus4 + 4
	PicOrderCntType         uint32
	Log2MaxPicOrderCntLSB   int // for PicOrderCntType 0
	MaxNumRefFrames         uint32
	FrameMbsOnly            bool
	MbAdaptiveFrameField    bool
	Direct8x8Inference      bool
	CropLeft, CropRight     uint32 // frame_crop_*_offset, in crop units
	CropTop, CropBottom     uint32
	Width, Height           int // of the decoded frame, after cropping
	VUIParametersPresent    bool
	SARWidth, SARHeight     uint16 // sample aspect ratio; 0 if unspecified
	VideoFullRange          bool
	ColourDescription       bool // the next three are present
	ColourPrimaries         uint8
	TransferCharacteristics uint8
	MatrixCoefficients      uint8

	// TimingInfoPresent tells whether the VUI carries NumUnitsInTick and
	// TimeScale; a field lasts NumUnitsInTick/TimeScale seconds (E.2.1).
	TimingInfoPresent bool
	NumUnitsInTick    uint32
	TimeScale         uint32
	FixedFrameRate    bool

	// BitstreamRestriction tells whether MaxNumReorderFrames and
	// MaxDecFrameBuffering are present. MaxNumReorderFrames 0 means
	// pictures are output in decoding order (no B-frames reordered).
	BitstreamRestriction bool
	MaxNumReorderFrames  uint32
	MaxDecFrameBuffering uint32
}

// profileHasChromaInfo reports whether the SPS of profile_idc carries
// chroma_format_idc, bit depths and scaling lists (7.3.2.1.1).
func profileHasChromaInfo(p uint8) bool {
	switch p {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		return true
	}
	return false
}

// ParseSPS parses a sequence parameter set NAL unit, header included, with
// emulation prevention bytes in place.
func ParseSPS(nal []byte) (*SPS, error) {
	if len(nal) == 0 {
		return nil, fmt.Errorf("SPS: %w: empty NAL unit", ErrTruncated)
	}
	if t := NALUType(nal); t != NALUTypeSPS {
		return nil, fmt.Errorf("SPS: %w: NAL unit type %d", ErrInvalid, t)
	}
	s := &SPS{}
	if err := s.parse(&bitReader{b: RemoveEmulationPrevention(nal[1:])}); err != nil {
		return nil, fmt.Errorf("SPS: %w", err)
	}
	return s, nil
}

// seq_parameter_set_data(), 7.3.2.1.1.
func (s *SPS) parse(r *bitReader) error {
	v, err := r.u(24)
	if err != nil {
		return err
	}
	s.ProfileIDC, s.ConstraintFlags, s.LevelIDC = uint8(v>>16), uint8(v>>8), uint8(v)
	if s.SeqParameterSetID, err = r.ueMax("seq_parameter_set_id", 31); err != nil {
		return err
	}

	s.ChromaFormatIDC, s.BitDepthLuma, s.BitDepthChroma = 1, 8, 8
	if profileHasChromaInfo(s.ProfileIDC) {
		if s.ChromaFormatIDC, err = r.ueMax("chroma_format_idc", 3); err != nil {
			return err
		}
		if s.ChromaFormatIDC == 3 {
			if s.SeparateColourPlane, err = r.flag(); err != nil {
				return err
			}
		}
		luma, err := r.ueMax("bit_depth_luma_minus8", 6)
		if err != nil {
			return err
		}
		chroma, err := r.ueMax("bit_depth_chroma_minus8", 6)
		if err != nil {
			return err
		}
		s.BitDepthLuma, s.BitDepthChroma = int(luma)+8, int(chroma)+8
		if _, err := r.u(1); err != nil { // qpprime_y_zero_transform_bypass_flag
			return err
		}
		if s.ScalingMatrixPresent, err = r.flag(); err != nil {
			return err
		}
		if s.ScalingMatrixPresent {
			n := 8
			if s.ChromaFormatIDC == 3 {
				n = 12
			}
			for i := 0; i < n; i++ {
				present, err := r.flag() // seq_scaling_list_present_flag[i]
				if err != nil {
					return err
				}
				if !present {
					continue
				}
				size := 16
				if i >= 6 {
					size = 64
				}
				if err := skipScalingList(r, size); err != nil {
					return err
				}
			}
		}
	}

	v, err = r.ueMax("log2_max_frame_num_minus4", 12)
	if err != nil {
		return err
	}
	s.Log2MaxFrameNum = int(v) + 4
	if s.PicOrderCntType, err = r.ueMax("pic_order_cnt_type", 2); err != nil {
		return err
	}
	switch s.PicOrderCntType {
	case 0:
		v, err := r.ueMax("log2_max_pic_order_cnt_lsb_minus4", 12)
		if err != nil {
			return err
		}
		s.Log2MaxPicOrderCntLSB = int(v) + 4
	case 1:
		if _, err := r.u(1); err != nil { // delta_pic_order_always_zero_flag
			return err
		}
		if _, err := r.se(); err != nil { // offset_for_non_ref_pic
			return err
		}
		if _, err := r.se(); err != nil { // offset_for_top_to_bottom_field
			return err
		}
		n, err := r.ueMax("num_ref_frames_in_pic_order_cnt_cycle", 255)
		if err != nil {
			return err
		}
		for i := uint32(0); i < n; i++ {
			if _, err := r.se(); err != nil { // offset_for_ref_frame[i]
				return err
			}
		}
	}
	if s.MaxNumRefFrames, err = r.ue(); err != nil {
		return err
	}
	if _, err := r.u(1); err != nil { // gaps_in_frame_num_value_allowed_flag
		return err
	}
	// Bounded so that sizes in pixels fit easily in an int; the largest
	// level (6.2) allows 139264 macroblocks per frame.
	widthMbs, err := r.ueMax("pic_width_in_mbs_minus1", 1<<16)
	if err != nil {
		return err
	}
	heightMapUnits, err := r.ueMax("pic_height_in_map_units_minus1", 1<<16)
	if err != nil {
		return err
	}
	if s.FrameMbsOnly, err = r.flag(); err != nil {
		return err
	}
	if !s.FrameMbsOnly {
		if s.MbAdaptiveFrameField, err = r.flag(); err != nil {
			return err
		}
	}
	if s.Direct8x8Inference, err = r.flag(); err != nil {
		return err
	}
	cropping, err := r.flag()
	if err != nil {
		return err
	}
	if cropping {
		for _, p := range []*uint32{&s.CropLeft, &s.CropRight, &s.CropTop, &s.CropBottom} {
			if *p, err = r.ueMax("frame_crop_offset", 1<<20); err != nil {
				return err
			}
		}
	}
	if err := s.setSize(int(widthMbs)+1, int(heightMapUnits)+1); err != nil {
		return err
	}

	if s.VUIParametersPresent, err = r.flag(); err != nil {
		return err
	}
	if s.VUIParametersPresent {
		if err := s.parseVUI(r); err != nil {
			return fmt.Errorf("VUI: %w", err)
		}
	}
	return nil
}

// setSize works out Width and Height from the size in macroblocks and the
// cropping rectangle (7.4.2.1.1, equations 7-13 to 7-22).
func (s *SPS) setSize(widthMbs, heightMapUnits int) error {
	frameMbsOnly := 0
	if s.FrameMbsOnly {
		frameMbsOnly = 1
	}
	cropUnitX, cropUnitY := 1, 2-frameMbsOnly
	if !s.SeparateColourPlane && s.ChromaFormatIDC != 0 { // ChromaArrayType != 0
		subWidthC, subHeightC := 2, 2 // Table 6-1
		switch s.ChromaFormatIDC {
		case 2:
			subHeightC = 1
		case 3:
			subWidthC, subHeightC = 1, 1
		}
		cropUnitX, cropUnitY = subWidthC, subHeightC*(2-frameMbsOnly)
	}
	width := widthMbs * 16
	height := (2 - frameMbsOnly) * heightMapUnits * 16
	cropX := cropUnitX * int(s.CropLeft+s.CropRight)
	cropY := cropUnitY * int(s.CropTop+s.CropBottom)
	if cropX >= width || cropY >= height {
		return fmt.Errorf("%w: cropping %dx%d of a %dx%d frame", ErrInvalid, cropX, cropY, width, height)
	}
	s.Width, s.Height = width-cropX, height-cropY
	return nil
}

// skipScalingList reads scaling_list() (7.3.2.1.1.1) and discards it.
func skipScalingList(r *bitReader, size int) error {
	last, next := int32(8), int32(8)
	for j := 0; j < size && next != 0; j++ {
		delta, err := r.se()
		if err != nil {
			return err
		}
		if delta < -128 || delta > 127 {
			return fmt.Errorf("%w: delta_scale %d", ErrInvalid, delta)
		}
		next = (last + delta + 256) % 256
		if next != 0 {
			last = next
		}
	}
	return nil
}

// parseVUI reads vui_parameters() (E.1.1).
func (s *SPS) parseVUI(r *bitReader) error {
	present, err := r.flag() // aspect_ratio_info_present_flag
	if err != nil {
		return err
	}
	if present {
		idc, err := r.u(8)
		if err != nil {
			return err
		}
		if idc == 255 { // Extended_SAR
			v, err := r.u(32)
			if err != nil {
				return err
			}
			s.SARWidth, s.SARHeight = uint16(v>>16), uint16(v)
		} else if int(idc) < len(sampleAspectRatios) {
			sar := sampleAspectRatios[idc]
			s.SARWidth, s.SARHeight = sar[0], sar[1]
		}
	}
	if present, err = r.flag(); err != nil { // overscan_info_present_flag
		return err
	}
	if present {
		if _, err := r.u(1); err != nil { // overscan_appropriate_flag
			return err
		}
	}
	if present, err = r.flag(); err != nil { // video_signal_type_present_flag
		return err
	}
	if present {
		if _, err := r.u(3); err != nil { // video_format
			return err
		}
		if s.VideoFullRange, err = r.flag(); err != nil {
			return err
		}
		if s.ColourDescription, err = r.flag(); err != nil {
			return err
		}
		if s.ColourDescription {
			v, err := r.u(24)
			if err != nil {
				return err
			}
			s.ColourPrimaries, s.TransferCharacteristics, s.MatrixCoefficients = uint8(v>>16), uint8(v>>8), uint8(v)
		}
	}
	if present, err = r.flag(); err != nil { // chroma_loc_info_present_flag
		return err
	}
	if present {
		if _, err := r.ue(); err != nil { // chroma_sample_loc_type_top_field
			return err
		}
		if _, err := r.ue(); err != nil { // chroma_sample_loc_type_bottom_field
			return err
		}
	}
	if s.TimingInfoPresent, err = r.flag(); err != nil {
		return err
	}
	if s.TimingInfoPresent {
		if s.NumUnitsInTick, err = r.u(32); err != nil {
			return err
		}
		if s.TimeScale, err = r.u(32); err != nil {
			return err
		}
		if s.FixedFrameRate, err = r.flag(); err != nil {
			return err
		}
	}
	nalHRD, err := r.flag() // nal_hrd_parameters_present_flag
	if err != nil {
		return err
	}
	if nalHRD {
		if err := skipHRD(r); err != nil {
			return err
		}
	}
	vclHRD, err := r.flag() // vcl_hrd_parameters_present_flag
	if err != nil {
		return err
	}
	if vclHRD {
		if err := skipHRD(r); err != nil {
			return err
		}
	}
	if nalHRD || vclHRD {
		if _, err := r.u(1); err != nil { // low_delay_hrd_flag
			return err
		}
	}
	if _, err := r.u(1); err != nil { // pic_struct_present_flag
		return err
	}
	if s.BitstreamRestriction, err = r.flag(); err != nil {
		return err
	}
	if s.BitstreamRestriction {
		if _, err := r.u(1); err != nil { // motion_vectors_over_pic_boundaries_flag
			return err
		}
		for range 4 { // max_bytes_per_pic_denom, max_bits_per_mb_denom, log2_max_mv_length_{horizontal,vertical}
			if _, err := r.ue(); err != nil {
				return err
			}
		}
		if s.MaxNumReorderFrames, err = r.ue(); err != nil {
			return err
		}
		if s.MaxDecFrameBuffering, err = r.ue(); err != nil {
			return err
		}
	}
	return nil
}

// skipHRD reads hrd_parameters() (E.1.2) and discards it.
func skipHRD(r *bitReader) error {
	n, err := r.ueMax("cpb_cnt_minus1", 31)
	if err != nil {
		return err
	}
	if _, err := r.u(8); err != nil { // bit_rate_scale, cpb_size_scale
		return err
	}
	for i := uint32(0); i <= n; i++ {
		if _, err := r.ue(); err != nil { // bit_rate_value_minus1
			return err
		}
		if _, err := r.ue(); err != nil { // cpb_size_value_minus1
			return err
		}
		if _, err := r.u(1); err != nil { // cbr_flag
			return err
		}
	}
	// initial_cpb_removal_delay_length_minus1, cpb_removal_delay_length_minus1,
	// dpb_output_delay_length_minus1, time_offset_length: 5 bits each.
	_, err = r.u(20)
	return err
}

// sampleAspectRatios is Table E-1, indexed by aspect_ratio_idc.
var sampleAspectRatios = [...][2]uint16{
	{0, 0}, {1, 1}, {12, 11}, {10, 11}, {16, 11}, {40, 33}, {24, 11}, {20, 11},
	{32, 11}, {80, 33}, {18, 11}, {15, 11}, {64, 33}, {160, 99}, {4, 3}, {3, 2}, {2, 1},
}

// FrameRate returns the frame rate the VUI timing declares, or 0 if it
// declares none. It assumes one frame is two fields (E.2.1, equation C-1
// with DeltaTfiDivisor 2), which is how encoders write it.
func (s *SPS) FrameRate() float64 {
	if !s.TimingInfoPresent || s.NumUnitsInTick == 0 {
		return 0
	}
	return float64(s.TimeScale) / (2 * float64(s.NumUnitsInTick))
}

// CodecString returns the RFC 6381 codecs parameter for the stream,
// "avc1.PPCCLL": profile_idc, the constraint flags byte and level_idc in
// lowercase hexadecimal (RFC 6381 3.3).
func (s *SPS) CodecString() string {
	return codecString(s.ProfileIDC, s.ConstraintFlags, s.LevelIDC)
}

func codecString(profile, compat, level uint8) string {
	return fmt.Sprintf("avc1.%02x%02x%02x", profile, compat, level)
}
